"""Suite files (TOML): which datasets, strategies and scorers to run, and with what settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.core.errors import SuiteError
from evals.core.strategy import ReplicaResources
from evals.data.spec import DatasetSpec, shipped_spec, validate_spec
from evals.infra.hashing import content_hash

DEFAULT_SUITE = Path(__file__).resolve().parents[1] / "suites" / "default.toml"


class StrategyEntry(BaseModel):
    """One strategy to run: `name` labels its leaderboard rows, `type` is its registered name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    replicas: int | None = Field(default=None, ge=1, description="Ray executor: replicas (default: what fits)")
    resources: ReplicaResources | None = Field(default=None, description="Ray executor: overrides the strategy's")

    @model_validator(mode="after")
    def _default_type(self) -> StrategyEntry:
        self.type = self.type or self.name
        return self


class Suite(BaseModel):
    """A suite: datasets × strategies × scorers, a seed and run settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, description="items in flight; capped by a strategy's max_concurrency")
    max_attempts: int = Field(default=4, ge=1)
    repeats: int = Field(
        default=1, ge=1, description="answers per question, each a sample at the strategy's temperature"
    )
    scorers: list[str] = Field(default_factory=lambda: ["squad"])
    datasets: list[dict[str, Any]] = Field(min_length=1)
    strategies: list[StrategyEntry] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_labels(self) -> Suite:
        labels = [entry.name for entry in self.strategies]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"strategy names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def dataset_specs(self) -> list[DatasetSpec]:
        """Each dataset entry as a spec: a shipped name (with overrides such as `limit`) or inline."""
        base_dir = self.path.parent if self.path else Path.cwd()
        specs = []
        for index, entry in enumerate(self.datasets):
            where = f"{self.path or 'suite'}: datasets[{index}]"
            name = entry.get("name")
            if not (entry.keys() & {"source", "test", "train"}):
                shipped = shipped_spec(str(name))
                overrides = {key: value for key, value in entry.items() if key != "name"}
                specs.append(validate_spec({**shipped.model_dump(), **overrides}, shipped.base_dir, where))
            else:
                specs.append(validate_spec(entry, base_dir, where))
        return specs

    def with_limit(self, limit: int) -> Suite:
        """The same suite scoring at most `limit` test items per dataset."""
        return self.model_copy(update={"datasets": [{**entry, "limit": limit} for entry in self.datasets]})

    def with_repeats(self, repeats: int) -> Suite:
        """The same suite answering every question `repeats` times."""
        return Suite.model_validate({**self.model_dump(), "path": self.path, "repeats": repeats})

    def config_hash(self) -> str:
        """Hash of everything that determines the run's results (not its concurrency)."""
        return content_hash(
            {
                "datasets": [spec.model_dump(mode="json") for spec in self.dataset_specs()],
                "strategies": [entry.model_dump(exclude={"replicas", "resources"}) for entry in self.strategies],
                "scorers": self.scorers,
                "seed": self.seed,
                **({"repeats": self.repeats} if self.repeats > 1 else {}),  # unrepeated suites keep their hash
            }
        )


def load_suite(path: Path = DEFAULT_SUITE) -> Suite:
    """Read and validate a suite file; errors name the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"{path}: suite file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SuiteError(f"{path}: cannot read suite file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: not valid TOML: {error}") from None
    try:
        return Suite.model_validate({**raw, "path": path.resolve()})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'suite'}: {e['msg']}" for e in error.errors())
        raise SuiteError(f"{path}: invalid suite: {problems}") from None
