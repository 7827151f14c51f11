"""Summary statistics: means (of the values that are not NaN), with bootstrap confidence intervals,
latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000

Values = Sequence[float] | npt.NDArray[np.float64]
"""Numbers to summarise; NaN marks a missing value."""


class MeanWithCI(BaseModel):
    """A mean over n values with a percentile-bootstrap 95% CI; all NaN when n is 0."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


class Percentiles(BaseModel):
    p50: float
    p95: float
    p99: float
    mean: float
    n: int


def defined_mean(values: Values | Iterable[float]) -> float:
    """Mean of the values that are not NaN; NaN when there is none."""
    data = _defined(values if isinstance(values, Sequence | np.ndarray) else list(values))
    return float(data.mean()) if data.size else math.nan


def bootstrap_mean(values: Values, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> MeanWithCI:
    """Mean and percentile-bootstrap CI, ignoring NaN values (their count is not in n)."""
    data = _defined(values)
    if data.size == 0:
        return MeanWithCI(mean=math.nan, ci_low=math.nan, ci_high=math.nan, n=0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return MeanWithCI(mean=float(data.mean()), ci_low=float(low), ci_high=float(high), n=int(data.size))


def percentiles(values: Values) -> Percentiles:
    """p50/p95/p99 (linear interpolation) and mean; NaN when there are no values."""
    data = _defined(values)
    if data.size == 0:
        return Percentiles(p50=math.nan, p95=math.nan, p99=math.nan, mean=math.nan, n=0)
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return Percentiles(p50=float(p50), p95=float(p95), p99=float(p99), mean=float(data.mean()), n=int(data.size))


def _defined(values: Values) -> npt.NDArray[np.float64]:
    """The values as a float array, in order, without NaN."""
    data = np.asarray(values, dtype=np.float64).ravel()
    return data[~np.isnan(data)]
