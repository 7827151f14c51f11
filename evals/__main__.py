"""`python -m evals` runs the command line."""

from evals.cli.app import main

main()
