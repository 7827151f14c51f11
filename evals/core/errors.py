"""User-facing errors: the CLI prints these as one clear message and exits non-zero."""

from __future__ import annotations


class EvalsError(Exception):
    """An error caused by the user's input or environment, not by a bug.

    The message names where the problem is (file, row, field) and what to do.
    """

    exit_code = 2


class DatasetError(EvalsError):
    """A dataset file, row or field is missing or malformed."""


class SuiteError(EvalsError):
    """A suite file cannot be read or does not validate."""


class RegistryError(EvalsError):
    """An unknown strategy, scorer or dataset name."""


class ConfigError(EvalsError):
    """A price table, model file, API key or other setting is missing or invalid."""


class TransientError(Exception):
    """A failure worth retrying (rate limit, timeout, dropped connection).

    `retry_after` carries a server's Retry-After hint in seconds, when given.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
