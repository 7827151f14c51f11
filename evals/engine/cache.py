"""A content-addressed disk cache of answers: an unchanged re-run makes no model calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from evals.core.types import Answer, QAItem, SetupReport
from evals.infra.atomic import atomic_write_text
from evals.infra.hashing import content_hash

CACHE_SCHEMA_VERSION = 1


class CachedAnswer(BaseModel):
    schema_version: int = CACHE_SCHEMA_VERSION
    key: str
    answer: Answer


def answer_key(strategy_identity: dict[str, Any], knowledge_fingerprint: str, item: QAItem, repeat: int = 0) -> str:
    """What determines an answer: the strategy (config and model), the data it was prepared on,
    the question, and which repeat of it (repeat 0 keys as an unrepeated run). Gold answers are left
    out: they must not influence the answer."""
    return content_hash(
        {
            "cache_schema": CACHE_SCHEMA_VERSION,
            "strategy": strategy_identity,
            "knowledge": knowledge_fingerprint,
            "item": item.model_dump(mode="json", exclude={"answers"}),
            **({"repeat": repeat} if repeat else {}),
        },
        length=32,
    )


class AnswerCache:
    """Answers stored as `<dir>/answers/<key[:2]>/<key>.json`; unreadable entries count as misses."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "answers"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Answer | None:
        path = self._path(key)
        try:
            return CachedAnswer.model_validate_json(path.read_text(encoding="utf-8")).answer
        except (FileNotFoundError, ValidationError, UnicodeDecodeError):
            return None

    def put(self, key: str, answer: Answer) -> None:
        atomic_write_text(self._path(key), CachedAnswer(key=key, answer=answer).model_dump_json())

    def _setup_path(self, key: str) -> Path:
        return self.directory.parent / "setups" / f"{key}.json"

    def get_setup(self, key: str) -> SetupReport | None:
        """The setup report first measured for this strategy identity and dataset."""
        try:
            return SetupReport.model_validate_json(self._setup_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValidationError, UnicodeDecodeError):
            return None

    def put_setup(self, key: str, report: SetupReport) -> None:
        atomic_write_text(self._setup_path(key), report.model_dump_json())
