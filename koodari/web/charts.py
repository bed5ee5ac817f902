"""Chart geometry for the server-rendered SVG of the agreement and model pages (pure: numbers in, shapes out).

The templates draw the shapes; Jinja escapes every label, so category names are never markup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
           "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def colour(key: int) -> str:
    """A stable colour for a category id."""
    return PALETTE[key % len(PALETTE)]


def short(text: str, limit: int = 32) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Bar:
    label: str
    full: str
    value: float
    uses: int
    y: float
    width: float


@dataclass
class BarChart:
    width: int
    height: int
    left: int
    plot_width: int
    bar_height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def bar_chart(items: list[tuple[str, float, int]], width: int = 720, left: int = 260, bar_height: int = 18,
              limit: int = 25) -> BarChart:
    """Horizontal bars of values in 0–1: (label, value, uses), in the order given, at most ``limit``."""
    items = items[:limit]
    plot_width = width - left - 60
    bars = [Bar(short(label), label, value, uses, 24 + i * (bar_height + 6), max(0.0, value) * plot_width)
            for i, (label, value, uses) in enumerate(items)]
    height = 24 + len(bars) * (bar_height + 6) + 24
    ticks = [(left + t * plot_width, f"{t:.2g}") for t in (0, 0.25, 0.5, 0.75, 1.0)]
    return BarChart(width, height, left, plot_width, bar_height, bars, ticks)


@dataclass
class Cell:
    x: float
    y: float
    count: int
    opacity: float
    row: str
    column: str


@dataclass
class HeatMap:
    width: int
    height: int
    left: int
    top: int
    size: int
    rows: list[tuple[float, str, str]]  # (y, short label, full label)
    columns: list[tuple[float, str, str]]  # (x, short label, full label)
    cells: list[Cell]
    row_title: str
    column_title: str


def heat_map(pairs: list[tuple[str, str]], row_title: str, column_title: str, limit: int = 15,
             size: int = 28, left: int = 240, top: int = 170) -> HeatMap:
    """The confusion of two coders: one cell per (row coder's code, column coder's code), shaded by count.
    The ``limit`` most used categories of each coder are shown."""
    counts = Counter(pairs)
    row_use = Counter(a for a, _ in pairs)
    col_use = Counter(b for _, b in pairs)
    rows = [name for name, _ in row_use.most_common(limit)]
    columns = [name for name, _ in col_use.most_common(limit)]
    peak = max(counts.values(), default=1)
    cells = [Cell(left + j * size, top + i * size, counts[(r, c)], 0.15 + 0.85 * counts[(r, c)] / peak, r, c)
             for i, r in enumerate(rows) for j, c in enumerate(columns) if counts[(r, c)]]
    return HeatMap(left + len(columns) * size + 150, top + len(rows) * size + 20, left, top, size,
                   [(top + i * size + size / 2, short(r, 30), r) for i, r in enumerate(rows)],
                   [(left + j * size + size / 2, short(c, 24), c) for j, c in enumerate(columns)],
                   cells, row_title, column_title)


@dataclass
class Series:
    name: str
    colour: str
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, value)

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    series: list[Series]
    xticks: list[tuple[float, str, str]]  # (x, label, sub-label)
    yticks: list[tuple[float, str]]


def line_chart(xlabels: list[tuple[str, str]], series: dict[str, list[float | None]], width: int = 720,
               height: int = 320) -> LineChart:
    """Scores in 0–1 per model version, in order: one line per series (gaps where a score is missing)."""
    left, top, right, bottom = 50, 20, 20, 50
    plot_width, plot_height = width - left - right, height - top - bottom
    n = len(xlabels)

    def x_at(i: int) -> float:
        return left + (plot_width / 2 if n == 1 else i * plot_width / (n - 1))

    def y_at(v: float) -> float:
        return top + (1 - max(0.0, min(1.0, v))) * plot_height

    lines = []
    for k, (name, values) in enumerate(series.items()):
        line = Series(name, LINE_COLOURS[k % len(LINE_COLOURS)])
        line.points = [(x_at(i), y_at(v), v) for i, v in enumerate(values) if v is not None]
        if line.points:
            lines.append(line)
    step = max(1, n // 10)
    xticks = [(x_at(i), label, sub) for i, (label, sub) in enumerate(xlabels) if i % step == 0 or i == n - 1]
    yticks = [(y_at(v), f"{v:.2g}") for v in (0, 0.25, 0.5, 0.75, 1.0)]
    return LineChart(width, height, left, top, plot_width, plot_height, lines, xticks, yticks)
