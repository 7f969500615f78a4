"""Charts drawn on the server as SVG: no script, no inline style (CSP ``script-src 'self'``).

Shared by the pages of every package (audit statistics, a monitored system's latency); imports
nothing of the portal.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
TONES = {"normal": "#2f6fb3", "bad": "#b3362f"}


def bars(rows: list[dict[str, Any]], *, title: str, tone: str = "normal") -> Markup:
    """Vertical bars, one per row (days, hours), with the key under every few bars."""
    if not rows:
        return Markup(f'<p class="empty">{escape(title)}: nothing in this period.</p>')
    peak = max(r["count"] for r in rows) or 1
    n = len(rows)
    gap = 2
    width = max((WIDTH - 40) / n, 3)
    label_every = max(1, n // 12)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 30}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="12" font-size="12">{escape(title)} (max {peak})</text>']
    for i, row in enumerate(rows):
        h = (row["count"] / peak) * (HEIGHT - 30)
        x = 30 + i * width
        parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - h:.1f}" width="{max(width - gap, 1):.1f}" height="{h:.1f}" '
                     f'fill="{TONES.get(tone, TONES["normal"])}"><title>{escape(row["key"])}: {row["count"]}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="10">{escape(_short(row["key"]))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(rows: list[dict[str, Any]], *, title: str, limit: int = 12) -> Markup:
    """Horizontal bars with labels: who or what, and how many."""
    rows = rows[:limit]
    if not rows or not any(r["count"] for r in rows):
        return Markup(f'<p class="empty">{escape(title)}: nothing in this period.</p>')
    peak = max(r["count"] for r in rows) or 1
    line = 20
    height = 24 + line * len(rows)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>', f'<text x="0" y="12" font-size="12">{escape(title)}</text>']
    for i, row in enumerate(rows):
        y = 20 + i * line
        w = (row["count"] / peak) * (WIDTH - 260)
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">{escape(str(row["key"])[:28])}</text>')
        parts.append(f'<rect x="180" y="{y + 2}" width="{w:.1f}" height="{line - 6}" fill="{TONES["normal"]}"/>')
        parts.append(f'<text x="{186 + w:.1f}" y="{y + 13}" font-size="11">{escape(_number(row["count"]))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(key: Any) -> str:
    text = str(key)
    return text[5:] if len(text) == 10 and text[4] == "-" else text  # 2026-11-24 -> 11-24


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
