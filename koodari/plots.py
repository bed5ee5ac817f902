"""Terminal plots (plotext) rendered to text, so they print through rich and into tests alike."""

from __future__ import annotations

from rich.text import Text


def line_plot(xs: list[float], ys: list[float], title: str, width: int = 70, height: int = 14) -> Text:
    import plotext as plt

    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.plot(xs, ys, marker="braille")
    plt.title(title)
    plt.ylim(0, 1)
    return Text.from_ansi(plt.build())
