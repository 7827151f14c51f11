"""Line charts of a metric over runs, as geometry for an inline SVG (the template draws and escapes it):
no plotting library in the browser, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

WIDTH, HEIGHT = 640, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 12, 28
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563")


class Point(BaseModel):
    """One run's value: its position in the run order, the value and its CI (NaN where unknown)."""

    x: int
    value: float
    low: float = math.nan
    high: float = math.nan
    label: str = ""


class Series(BaseModel):
    name: str
    points: list[Point]


class DrawnSeries(BaseModel):
    name: str
    color: str
    line: str
    band: str
    whiskers: list[tuple[float, float, float]]
    markers: list[tuple[float, float, str]]


class Tick(BaseModel):
    position: float
    label: str


class Chart(BaseModel):
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    right: int = WIDTH - MARGIN_RIGHT
    top: int = MARGIN_TOP
    bottom: int = HEIGHT - MARGIN_BOTTOM
    series: list[DrawnSeries]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def line_chart(series: Sequence[Series], x_labels: Sequence[str]) -> Chart | None:
    """Lines (with a CI band where known) over x = 0..len(x_labels)-1; None when nothing is finite."""
    values = [
        v for s in series for p in s.points for v in (p.value, p.low, p.high) if not math.isnan(v) and math.isfinite(v)
    ]
    if not values:
        return None
    low, high = min(values), max(values)
    if high - low < 1e-12:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    chart = Chart(series=[], y_ticks=[], x_ticks=[])
    span = max(len(x_labels) - 1, 1)

    def x_at(x: int) -> float:
        return round(chart.left + (chart.right - chart.left) * (x / span if len(x_labels) > 1 else 0.5), 1)

    def y_at(value: float) -> float:
        return round(chart.bottom - (chart.bottom - chart.top) * (value - low) / (high - low), 1)

    for index, one in enumerate(series):
        finite = [p for p in one.points if math.isfinite(p.value)]
        banded = [p for p in finite if math.isfinite(p.low) and math.isfinite(p.high)]
        band = ""
        if len(banded) > 1:
            upper = [f"{x_at(p.x)},{y_at(p.high)}" for p in banded]
            lower = [f"{x_at(p.x)},{y_at(p.low)}" for p in reversed(banded)]
            band = " ".join(upper + lower)
        chart.series.append(
            DrawnSeries(
                name=one.name,
                color=PALETTE[index % len(PALETTE)],
                line=" ".join(f"{x_at(p.x)},{y_at(p.value)}" for p in finite),
                band=band,
                whiskers=[(x_at(p.x), y_at(p.low), y_at(p.high)) for p in banded],
                markers=[(x_at(p.x), y_at(p.value), f"{one.name} · {p.label}: {p.value:.4g}") for p in finite],
            )
        )
    chart.y_ticks = [Tick(position=y_at(v), label=f"{v:.3g}") for v in _nice_ticks(low, high)]
    step = max(1, math.ceil(len(x_labels) / 6))
    chart.x_ticks = [Tick(position=x_at(i), label=label) for i, label in enumerate(x_labels) if i % step == 0]
    return chart


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-12:
        ticks.append(round(value, 12))
        value += step
    return ticks
