"""Line charts as inline SVG, drawn on the server: no script, works offline and without JavaScript.

Only numbers and escaped labels go into the markup. Any finite value draws, up to the largest
float (an axis too wide for float arithmetic is drawn scaled by a power of two); points that are
not finite are left out, and the chart says how many.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 280, 64, 16, 16, 36
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777")


SAFE_MAGNITUDE = 2.0 ** 996  # beyond this, a difference or a 5% margin may overflow: such axes are scaled


@dataclass
class Axis:
    """One axis in scaled units (value / scale): lo..hi is what the plot area shows."""

    lo: float
    hi: float
    scale: float

    @classmethod
    def fit(cls, values: list[float], margin: float, flat_pad: float) -> "Axis":
        biggest = max(abs(v) for v in values)
        scale = 2.0 ** (math.frexp(biggest)[1] - 996) if biggest > SAFE_MAGNITUDE else 1.0
        lo, hi = min(values) / scale, max(values) / scale
        if hi - lo <= max(abs(lo + hi) * 1e-12, 1e-300):  # flat, to the precision of the numbers
            pad = max(abs(lo) * 0.05, flat_pad)
            return cls(lo - pad, hi + pad, scale)
        pad = (hi - lo) * margin
        return cls(lo - pad, hi + pad, scale)

    def at(self, value: float, start: float, length: float) -> float:
        """Where a value lies along an axis drawn from start over length pixels."""
        return start + (value / self.scale - self.lo) / (self.hi - self.lo) * length

    def ticks(self, n: int = 5) -> list[float]:
        """Round values (scaled units) inside lo..hi, at most about 2n."""
        span = self.hi - self.lo
        step = 10.0 ** math.floor(math.log10(span / n))
        for mult in (1, 2, 5, 10):
            if span / (step * mult) <= n:
                step *= mult
                break
        first = math.ceil(self.lo / step)
        count = int(math.floor(self.hi / step) - first) + 1
        return [(first + i) * step for i in range(max(0, min(count, 2 * n + 1)))]

    def label(self, tick: float, form: str) -> str:
        if form == "date":  # the value is a day number (date.toordinal)
            return date.fromordinal(round(tick * self.scale)).isoformat()
        return format(tick * self.scale, form)


def day_number(day: str) -> int:
    """A YYYY-MM-DD day as the x of a chart drawn with `x_dates`."""
    return date.fromisoformat(day).toordinal()


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], x_label: str, y_label: str,
               title: str = "", x_dates: bool = False, dots: list[tuple[float, float, str]] = (),
               dots_label: str = "") -> Markup:
    """series: [(label, [(x, y), ...])]. Points with a None x or y are skipped; non-finite ones are
    skipped and counted. `x_dates`: x values are day numbers (day_number), labelled YYYY-MM-DD.
    `dots`: single points (x, y, what each is) drawn unjoined, in one more colour named `dots_label`."""
    given = [(label, [(float(x), float(y)) for x, y in pts if x is not None and y is not None])
             for label, pts in series]
    clean = [(label, [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)]) for label, pts in given]
    not_finite = sum(len(pts) for _, pts in given) - sum(len(pts) for _, pts in clean)
    clean = [(label, pts) for label, pts in clean if pts]
    dots = [(float(x), float(y), what) for x, y, what in dots
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    if not clean and not dots:
        note = f" ({not_finite} value(s) not finite)" if not_finite else ""
        return Markup(f'<p class="muted">no data for this chart{note}</p>')
    x_axis = Axis.fit([x for _, pts in clean for x, _ in pts] + [x for x, _, _ in dots], margin=0.02 if dots else 0.0,
                      flat_pad=0.5)
    y_axis = Axis.fit([y for _, pts in clean for _, y in pts] + [y for _, y, _ in dots], margin=0.05, flat_pad=0.5)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def sx(x: float) -> float:
        return x_axis.at(x, PAD_L, w)

    def sy(y: float) -> float:
        return PAD_T + h - y_axis.at(y, 0.0, h)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title or y_label)}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>']
    for t in y_axis.ticks():
        y = PAD_T + h - (t - y_axis.lo) / (y_axis.hi - y_axis.lo) * h
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{y_axis.label(t, ".4g")}</text>')
    for t in x_axis.ticks():
        x = PAD_L + (t - x_axis.lo) / (x_axis.hi - x_axis.lo) * w
        parts.append(f'<text x="{x:.1f}" y="{PAD_T + h + 16}" text-anchor="middle" font-size="11">'
                     f'{x_axis.label(t, "date" if x_dates else ".6g")}</text>')
    if not_finite:
        parts.append(f'<text x="{PAD_L + w}" y="{PAD_T + h + 30}" text-anchor="end" font-size="11">'
                     f'{not_finite} value(s) not finite, not drawn</text>')
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
    if dots:
        color = COLORS[len(clean) % len(COLORS)]
        for x, y, what in dots:
            parts.append(f'<circle class="dot" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{color}">'
                         f'<title>{escape(what)}</title></circle>')
        parts.append(f'<text x="{PAD_L + 8}" y="{PAD_T + 14 + 14 * len(clean)}" font-size="11" fill="{color}">'
                     f'{escape(dots_label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
