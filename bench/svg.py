"""Grouped bar charts as hand-written SVG: plots for benchmarks without a plotting dependency.

`bar_panels` lays out panels side by side; each panel has categories on the x axis (e.g. rates)
and one bar per series in each (e.g. logjet, rsyslog), values printed on the bars, and optional
horizontal reference lines (a target such as 250 ms).
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
PANEL_W, PANEL_H = 360, 260
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 52, 12, 40, 46


class Panel(NamedTuple):
    title: str
    y_label: str
    categories: list[str]
    series: dict[str, list[float | None]]  # name -> one value per category (None: not measured)
    lines: list[tuple[float, str]] = []  # (y value, label) reference lines


def _fmt(v: float) -> str:
    if v >= 100_000:
        return f"{v / 1000:,.0f}k"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _panel(p: Panel, x0: int, colours: dict[str, str]) -> list[str]:
    out = []
    plot_w = PANEL_W - MARGIN_L - MARGIN_R
    plot_h = PANEL_H - MARGIN_T - MARGIN_B
    values = [v for vs in p.series.values() for v in vs if v is not None] + [y for y, _ in p.lines]
    top = max(values, default=1.0) * 1.15 or 1.0
    left, base = x0 + MARGIN_L, MARGIN_T + plot_h

    def y_of(v: float) -> float:
        return base - plot_h * v / top

    out.append(f'<text x="{x0 + PANEL_W / 2}" y="18" text-anchor="middle" font-size="12">{escape(p.title)}</text>')
    out.append(
        f'<text x="{x0 + 12}" y="{MARGIN_T + plot_h / 2}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 12} {MARGIN_T + plot_h / 2})">{escape(p.y_label)}</text>'
    )
    for k in range(5):
        v = top * k / 4
        y = y_of(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end">{_fmt(v)}</text>')
    n_cat = max(1, len(p.categories))
    n_ser = max(1, len(p.series))
    slot = plot_w / n_cat
    bar_w = slot * 0.8 / n_ser
    for c, cat in enumerate(p.categories):
        cx = left + slot * c
        out.append(
            f'<text x="{cx + slot / 2:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">{escape(cat)}</text>'
        )
        for s, (name, vs) in enumerate(p.series.items()):
            v = vs[c] if c < len(vs) else None
            if v is None:
                continue
            bx = cx + slot * 0.1 + bar_w * s
            y = y_of(v)
            out.append(
                f'<rect x="{bx:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{base - y:.1f}" '
                f'fill="{colours[name]}"><title>{escape(name)} {escape(cat)}: {v:g}</title></rect>'
            )
            out.append(
                f'<text x="{bx + bar_w / 2:.1f}" y="{y - 2:.1f}" font-size="8" text-anchor="middle">{_fmt(v)}</text>'
            )
    for v, label in p.lines:
        y = y_of(v)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#555" stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{left + plot_w}" y="{y - 3:.1f}" font-size="9" text-anchor="end">{escape(label)}</text>')
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
    return out


def bar_panels(title: str, panels: list[Panel]) -> str:
    """An SVG document: `panels` side by side under `title`, one legend for every series."""
    names: list[str] = []
    for p in panels:
        names += [n for n in p.series if n not in names]
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    width, height = PANEL_W * max(1, len(panels)), PANEL_H + 40
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="12" font-size="11">{escape(title)}</text>',
    ]
    body.append('<g transform="translate(0 16)">')
    for i, p in enumerate(panels):
        body += _panel(p, i * PANEL_W, colours)
    body.append("</g>")
    for i, n in enumerate(names):
        x = width - 110 * (len(names) - i)
        body.append(f'<rect x="{x}" y="{height - 20}" width="10" height="10" fill="{colours[n]}"/>')
        body.append(f'<text x="{x + 14}" y="{height - 11}" font-size="10">{escape(n)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"
