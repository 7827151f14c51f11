"""Built-in strategies, and the retrievers and model backends they share.

Strategies are registered through the ``evals.strategies`` entry-point group (see pyproject.toml),
so importing this package loads no model code.
"""
