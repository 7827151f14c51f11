"""Cost: tokens × a dated price table, plus local compute time, per query and per setup."""

from __future__ import annotations

import math
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evals.core.errors import ConfigError
from evals.core.types import Answer, SetupReport

DEFAULT_PRICE_TABLE = Path(__file__).resolve().parent / "price_table.toml"


class ModelPrice(BaseModel):
    """Rates for one model; `local` models are priced by the compute time they use instead, on the `accelerator`
    that serves them (a self-hosted vLLM model on a GPU: `local = true, accelerator = "gpu"`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    training_per_mtok: float = Field(default=0.0, ge=0)
    local: bool = False
    accelerator: Literal["cpu", "gpu"] = "cpu"


class ComputePrice(BaseModel):
    """Hourly rates of the machines local work runs on: a CPU instance, and one GPU where training uses one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    local_per_hour: float = Field(ge=0)
    gpu_per_hour: float | None = Field(default=None, ge=0)

    def per_hour(self, accelerator: Literal["cpu", "gpu"]) -> float:
        """The rate for work on `accelerator`; NaN for GPU work when the table has no GPU rate."""
        if accelerator == "cpu":
            return self.local_per_hour
        return math.nan if self.gpu_per_hour is None else self.gpu_per_hour


class PriceTable(BaseModel):
    """A dated table of prices (see `evals/price_table.toml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    currency: str = "USD"
    compute: ComputePrice
    models: dict[str, ModelPrice] = Field(default_factory=dict)

    @field_validator("date")
    @classmethod
    def _real_date(cls, value: str) -> str:
        date.fromisoformat(value)  # the pattern admits 2025-02-30; the calendar does not
        return value

    def price(self, model: str | None) -> ModelPrice | None:
        """The model's rates; None for an unpriced model. No model means local, model-free work."""
        if model is None:
            return ModelPrice(local=True)
        return self.models.get(model)

    def token_cost(self, model: str, input_tokens: float, output_tokens: float) -> float:
        """USD for tokens at the model's rates; NaN for an unpriced model."""
        price = self.price(model)
        if price is None:
            return math.nan
        return input_tokens * price.input_per_mtok / 1e6 + output_tokens * price.output_per_mtok / 1e6

    def query_cost(self, answer: Answer) -> float:
        """USD for one answer: its tokens at the model's rates, or its wall time on local compute.

        NaN when the model is not in the table, so a missing price shows rather than reads as free.
        """
        price = self.price(answer.model)
        if price is None:
            return math.nan
        seconds = answer.timings.get("total", 0.0)
        return (
            answer.usage.input_tokens * price.input_per_mtok / 1e6
            + answer.usage.output_tokens * price.output_per_mtok / 1e6
            + (seconds * self.compute.per_hour(price.accelerator) / 3600 if price.local else 0.0)
        )

    def setup_cost(self, setup: SetupReport) -> float:
        """USD a strategy's setup cost: training tokens at the model's rate plus local compute time, at the CPU-
        or GPU-hour rate of what it ran on."""
        price = self.price(setup.model)
        if price is None:
            return math.nan
        compute = setup.seconds * self.compute.per_hour(setup.accelerator) / 3600 if price.local else 0.0
        return setup.training_tokens * price.training_per_mtok / 1e6 + compute


def load_price_table(path: Path = DEFAULT_PRICE_TABLE) -> PriceTable:
    """Read and validate a price table; errors name the file and field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: price table not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: unreadable price table: {error}") from None
    try:
        return PriceTable.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path}: invalid price table: {problems}") from None
