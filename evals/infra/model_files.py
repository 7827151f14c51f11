"""Results saved as one JSON document (a pydantic model): written whole or not at all, read back with errors
that name the file and the command that makes it."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.infra.atomic import atomic_write_text

Model = TypeVar("Model", bound=BaseModel)


def save_model(model: BaseModel, path: Path) -> Path:
    """Write `model` as indented JSON; a crash leaves the old file whole. Returns `path`."""
    atomic_write_text(path, model.model_dump_json(indent=2) + "\n")
    return path


def load_model(cls: type[Model], path: Path, what: str, command: str) -> Model:
    """Read a saved `what` (e.g. "robustness results") written by `command`; EvalsError naming the file."""
    try:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalsError(f"{path}: no {what}; run `{command}` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise EvalsError(f"{path}: unreadable {what}: {error}") from None
