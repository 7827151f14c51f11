"""The `evals` command line: one module per command; `app` wires them together."""
