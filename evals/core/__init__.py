"""The contracts every layer speaks: items and answers, errors, the strategy contract, registries, suites."""
