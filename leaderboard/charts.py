"""Line charts as inline SVG, drawn on the server: no script, works offline and without JavaScript.

Only numbers and escaped labels go into the markup."""
from __future__ import annotations

import math

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 280, 64, 16, 16, 36
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], x_label: str, y_label: str,
               title: str = "") -> Markup:
    """series: [(label, [(x, y), ...])]. Points with a None or non-finite y are skipped."""
    clean = [(label, [(float(x), float(y)) for x, y in pts if y is not None and math.isfinite(y) and x is not None])
             for label, pts in series]
    clean = [(label, pts) for label, pts in clean if pts]
    if not clean:
        return Markup('<p class="muted">no data for this chart</p>')
    xs = [x for _, pts in clean for x, _ in pts]
    ys = [y for _, pts in clean for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    margin = (y1 - y0) * 0.05
    y0, y1 = y0 - margin, y1 + margin
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * w

    def sy(y: float) -> float:
        return PAD_T + (1 - (y - y0) / (y1 - y0)) * h

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title or y_label)}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>']
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11">{t:.4g}</text>')
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{PAD_T + h + 16}" text-anchor="middle" font-size="11">{t:.6g}</text>')
    parts.append(f'<text x="{PAD_L + w / 2}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12">{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{PAD_T + h / 2}" text-anchor="middle" font-size="12" '
                 f'transform="rotate(-90 14 {PAD_T + h / 2})">{escape(y_label)}</text>')
    for i, (label, pts) in enumerate(clean):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{path}">'
                     f'<title>{escape(label)}</title></polyline>')
        if len(pts) == 1:
            parts.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<text x="{PAD_L + 8}" y="{PAD_T + 14 + 14 * i}" font-size="11" fill="{color}">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
