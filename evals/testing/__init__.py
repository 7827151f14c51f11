"""Eval suites as pytest tests: the pytest plugin and the result objects its fixtures return."""
