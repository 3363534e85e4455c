"""A horizontal bar chart as SVG, drawn on the server: no chart library, no script, no CDN."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 760
LABEL = 150  # room for the category names on the left
ROW = 34
BAR = 22


def bar_chart(title: str, bars: Sequence[tuple[str, int]]) -> Markup:
    """One bar per (label, value), the value written at the end of its bar."""
    top = max((v for _, v in bars), default=0) or 1
    span = WIDTH - LABEL - 70
    height = ROW * len(bars) + 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(bars):
        y = 8 + i * ROW
        width = round(span * value / top)
        parts.append(
            f'<text x="{LABEL - 8}" y="{y + BAR - 6}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{LABEL}" y="{y}" width="{width}" height="{BAR}"/>'
            f'<text x="{LABEL + width + 6}" y="{y + BAR - 6}">{value}</text>'
        )
    parts.append(f'<line class="axis" x1="{LABEL}" y1="4" x2="{LABEL}" y2="{height - 4}"/></svg>')
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped
