"""Trend charts for the inspection report, drawn as inline SVG.

No script and no external file: the page must print and archive as it is. A chart is a plain
line chart (x = inspection time, y = value) with axes, tick labels, one polyline per host and
a dot per inspection. Every text that comes from the report (host names) is escaped here, since
the template includes the SVG as markup.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

log = logging.getLogger(__name__)

# Colour-blind friendly palette (Okabe-Ito, then a few darker extras); cycled past its end.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#8C564B", "#7F7F7F", "#BCBD22")

WIDTH = 720
HEIGHT = 250
LEFT, RIGHT, TOP, BOTTOM = 72, 170, 14, 42  # plot margins: room for tick labels and legend

Point = tuple[datetime, float]


def enough_points(series: Mapping[str, Sequence[Point]]) -> bool:
    """A trend needs at least two inspections (two distinct times) with a value."""
    return len({when for points in series.values() for when, _ in points}) >= 2


def line_chart(series: Mapping[str, Sequence[Point]], *, label: str,
               fmt: Callable[[float], str]) -> Markup | None:
    """One SVG line chart, one polyline per series (host); None when there is no trend yet.

    ``label`` names the chart for screen readers; ``fmt`` formats a y value for the axis and
    the dots' tooltips.
    """
    if not enough_points(series):
        return None
    times = sorted({when for points in series.values() for when, _ in points})
    values = [value for points in series.values() for _, value in points]
    t0, t1 = times[0].timestamp(), times[-1].timestamp()
    y_low = min(0.0, min(values))
    y_top, step = _nice_top(max(values) - y_low)
    y_top += y_low
    height = max(HEIGHT, TOP + 16 * len(series) + 16)  # the legend of 20 hosts fits too
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM

    def x_of(when: datetime) -> float:
        return LEFT + (when.timestamp() - t0) / (t1 - t0) * plot_w

    def y_of(value: float) -> float:
        return TOP + plot_h - (value - y_low) / (y_top - y_low) * plot_h

    parts = [f'<svg class="chart" role="img" '
             f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'aria-label="{escape(label)}">']
    # y grid and tick labels
    ticks = round((y_top - y_low) / step)
    for i in range(ticks + 1):
        value = y_low + i * step
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(fmt(value))}</text>')
    # x ticks: every inspection, thinned to at most 8 labels
    every = max(1, math.ceil(len(times) / 8))
    for i, when in enumerate(times):
        x = x_of(when)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" '
                     f'y2="{TOP + plot_h + 4}"/>')
        if i % every == 0 or i == len(times) - 1:
            parts.append(f'<text class="tick" x="{x:.1f}" y="{TOP + plot_h + 17}" '
                         f'text-anchor="middle">{when:%Y-%m-%d}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" '
                 f'y2="{TOP + plot_h}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" '
                 f'y2="{TOP + plot_h}"/>')
    # one series per host, with its legend entry
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[n % len(PALETTE)]
        ordered = sorted(points)
        coords = " ".join(f"{x_of(w):.1f},{y_of(v):.1f}" for w, v in ordered)
        parts.append(f'<polyline class="series" fill="none" stroke="{colour}" '
                     f'stroke-width="2" points="{coords}"><title>{escape(name)}</title>'
                     f'</polyline>')
        for when, value in ordered:
            parts.append(f'<circle cx="{x_of(when):.1f}" cy="{y_of(value):.1f}" r="3" '
                         f'fill="{colour}"><title>{escape(name)} {when:%Y-%m-%d %H:%M}: '
                         f'{escape(fmt(value))}</title></circle>')
        ly = TOP + 6 + n * 16
        lx = LEFT + plot_w + 14
        parts.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 16}" y2="{ly}" stroke="{colour}" '
                     f'stroke-width="2"/>')
        parts.append(f'<text class="legend" x="{lx + 22}" y="{ly + 4}">'
                     f'{escape(_shorten(name, 20))}</text>')
    parts.append("</svg>")
    return Markup("\n".join(parts))  # noqa: S704 - every interpolated text escaped above


def _nice_top(span: float) -> tuple[float, float]:
    """The axis top and tick step: about 4 ticks of 1, 2, 2.5 or 5 times a power of ten."""
    if span <= 0 or not math.isfinite(span):
        return 1.0, 0.25
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return math.ceil(span / step - 1e-9) * step, step


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
