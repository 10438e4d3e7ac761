"""Charts drawn on the server as inline SVG (no script, no CDN, nothing fetched at run time): stacked
bars of counts per day and lines of rates per day. Each chart carries a text title and description
for screen readers; the page shows the same figures in a table beside it.

Colours come from CSS classes (series-0 …) so the stylesheet keeps their contrast in one place;
no inline style attribute is written (the console's CSP forbids them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

W, H = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _frame(title: str, desc: str, body: list[str], labels: Sequence[str], top: str, legend: Sequence[str]) -> Markup:
    ident = "chart-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    n = max(1, len(labels))
    step = (W - LEFT - RIGHT) / n
    ticks = [f'<text class="tick" x="{LEFT + step * (i + 0.5):.1f}" y="{H - 8}" text-anchor="middle">'
             f'{escape(label[5:])}</text>'
             for i, label in enumerate(labels) if n <= 14 or i % max(1, n // 10) == 0]
    keys = "".join(f'<span class="key"><span class="swatch series-{i}" aria-hidden="true"></span>{escape(name)}</span>'
                   for i, name in enumerate(legend))
    svg = (f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{ident}-t {ident}-d" '
           f'preserveAspectRatio="xMinYMin meet"><title id="{ident}-t">{escape(title)}</title>'
           f'<desc id="{ident}-d">{escape(desc)}</desc>'
           f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>'
           f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>'
           f'<text class="tick" x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end">{escape(top)}</text>'
           f'<text class="tick" x="{LEFT - 4}" y="{H - BOTTOM}" text-anchor="end">0</text>'
           + "".join(body) + "".join(ticks) + "</svg>")
    return Markup(f'<figure class="figure">{svg}<figcaption>{escape(title)} <span class="legend">{keys}'
                  f'</span></figcaption></figure>')


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[int]]) -> Markup:
    """One bar per label, its series stacked bottom-up in the order given."""
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    n = max(1, len(labels))
    step = (W - LEFT - RIGHT) / n
    height = H - TOP - BOTTOM
    body = []
    for i, label in enumerate(labels):
        y = float(H - BOTTOM)
        for k, (name, values) in enumerate(series.items()):
            v = values[i]
            if not v:
                continue
            h = height * v / peak
            y -= h
            body.append(f'<rect class="series-{k}" x="{LEFT + step * i + step * 0.15:.1f}" y="{y:.1f}" '
                        f'width="{step * 0.7:.1f}" height="{h:.1f}"><title>{escape(label)}: {v} {escape(name)}'
                        f'</title></rect>')
    desc = "; ".join(f"{name}: {sum(values)} in all" for name, values in series.items())
    return _frame(title, desc, body, labels, str(peak), list(series))


def lines(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]],
          shown: Callable[[float], str], top: float | None = None) -> Markup:
    """One polyline per series; a missing value (None: nothing to measure that day) breaks the line."""
    values = [v for s in series.values() for v in s if v is not None]
    peak = top if top is not None else (max(values, default=0.0) or 1.0)
    n = max(1, len(labels))
    step = (W - LEFT - RIGHT) / n
    height = H - TOP - BOTTOM
    body = []
    for k, (name, vals) in enumerate(series.items()):
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vals):
            if v is None:
                runs.append([])
                continue
            x, y = LEFT + step * (i + 0.5), H - BOTTOM - height * min(v, peak) / peak
            runs[-1].append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle class="series-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(labels[i])}: '
                        f'{escape(name)} {escape(shown(v))}</title></circle>')
        body.extend(f'<polyline class="line series-{k}" points="{" ".join(r)}"/>' for r in runs if len(r) > 1)
    desc = "; ".join(f"{name}: " + ", ".join(f"{labels[i]} {shown(v)}" for i, v in enumerate(vals) if v is not None)
                     for name, vals in series.items())
    return _frame(title, desc or "no data", body, labels, shown(peak), list(series))
