"""Small server-side SVG charts: trends of readings, bars, learning curves, an interval.

Plain SVG with a ``<title>``, ``role="img"`` and an ``aria-label`` summarising the data, and
a ``viewBox`` so it scales to the screen: no CDN, no script, works offline and prints. Every
chart is built with Jinja2 autoescaping, so labels from data cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito) series colours with >= 3:1 contrast on white.
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8a6d00", "#56606b")

CHART_WORDS = {
    "value": "value",
    "values": "values",
    "latest": "latest",
    "crisis": "crisis",
    "in_crisis": "in the crisis range",
}

_env = Environment(autoescape=select_autoescape(default=True))

_LINE = _env.from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {{ w }} {{ h }}"
 role="img" aria-label="{{ summary }}"><title>{{ title }}</title>
<rect x="0" y="0" width="{{ w }}" height="{{ h }}" fill="#fff"/>
{% for y, label in yticks %}<line x1="{{ left }}" x2="{{ w - 10 }}" y1="{{ y }}" y2="{{ y }}"
 stroke="#dde3ea"/><text x="{{ left - 6 }}" y="{{ y + 4 }}" font-size="11" text-anchor="end"
 fill="#4a5563">{{ label }}</text>{% endfor %}
{% for x, label, anchor in xticks %}<text x="{{ x }}" y="{{ h - 8 }}" text-anchor="{{ anchor }}"
 font-size="11" fill="#4a5563">{{ label }}</text>{% endfor %}
{% for band in bands %}<rect x="{{ left }}" y="{{ band.y }}" width="{{ w - left - 10 }}"
 height="{{ band.h }}" fill="{{ band.colour }}" opacity="0.12"/>{% endfor %}
{% if crisis_y is not none %}<line x1="{{ left }}" x2="{{ w - 10 }}" y1="{{ crisis_y }}"
 y2="{{ crisis_y }}" stroke="#b3261e" stroke-width="1.5" stroke-dasharray="5 4"/><text
 x="{{ w - 12 }}" y="{{ crisis_y - 4 }}" font-size="11" text-anchor="end"
 fill="#b3261e">{{ crisis_label }}</text>{% endif %}
{% for s in series %}<polyline fill="none" stroke="{{ s.colour }}" stroke-width="2"
 points="{{ s.points }}"/>{% for x, y, alarm in s.dots %}<circle cx="{{ x }}" cy="{{ y }}" r="2.8"
 fill="{{ s.colour }}"/>{% if alarm %}<circle cx="{{ x }}" cy="{{ y }}" r="6.5" fill="none"
 stroke="#b3261e" stroke-width="2" class="crisis-marker"/>{% endif %}{% endfor %}{% endfor %}
{% for s in series %}<rect x="{{ left + loop.index0 * 130 }}" y="6" width="10" height="10"
 fill="{{ s.colour }}"/><text x="{{ left + 14 + loop.index0 * 130 }}" y="15" font-size="12"
 fill="#1b1f24">{{ s.name }}</text>{% endfor %}
</svg>"""
)

_BARS = _env.from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {{ w }} {{ h }}"
 role="img" aria-label="{{ summary }}"><title>{{ title }}</title>
{% for b in bars %}<text x="0" y="{{ b.y + 15 }}" font-size="13" fill="#1b1f24">{{ b.label }}</text>
<rect x="{{ label_w }}" y="{{ b.y }}" width="{{ b.width }}" height="20" fill="{{ b.colour }}"/>
<text x="{{ label_w + b.width + 6 }}" y="{{ b.y + 15 }}" font-size="13"
 fill="#1b1f24">{{ b.text }}</text>{% endfor %}
</svg>"""
)

_INTERVAL = _env.from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {{ w }} 70"
 role="img" aria-label="{{ summary }}"><title>{{ title }}</title>
<line x1="{{ zero }}" x2="{{ zero }}" y1="8" y2="44" stroke="#56606b" stroke-dasharray="4 3"/>
<text x="{{ zero }}" y="60" font-size="11" text-anchor="middle" fill="#4a5563">0</text>
<line x1="{{ lo }}" x2="{{ hi }}" y1="26" y2="26" stroke="#0072B2" stroke-width="3"/>
<line x1="{{ lo }}" x2="{{ lo }}" y1="18" y2="34" stroke="#0072B2" stroke-width="2"/>
<line x1="{{ hi }}" x2="{{ hi }}" y1="18" y2="34" stroke="#0072B2" stroke-width="2"/>
<circle cx="{{ mid }}" cy="26" r="5" fill="#D55E00"/>
<text x="{{ lo }}" y="60" font-size="11" text-anchor="middle" fill="#4a5563">{{ lo_text }}</text>
<text x="{{ hi }}" y="60" font-size="11" text-anchor="middle" fill="#4a5563">{{ hi_text }}</text>
</svg>"""
)


def _nice_range(low: float, high: float) -> tuple[float, float]:
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _percent_axis(low: float, high: float, *, ceiling: float) -> tuple[float, float]:
    """The rate axis on whole percents, four equal steps of at least one percent: ticks
    rounded to whole percents between looser ends read "20%, 20%, 21%, 22%, 22%"."""
    floor_pct, top_pct = math.floor(round(low * 100, 6)), math.ceil(round(high * 100, 6))
    step = max(1, math.ceil((top_pct - floor_pct) / 4))
    limit = math.ceil(round(ceiling * 100, 6))
    if floor_pct + 4 * step > limit:  # not past 100 % (or the highest rate): shift down
        floor_pct = max(limit - 4 * step, min(floor_pct, 0))
    return floor_pct / 100, (floor_pct + 4 * step) / 100


def line_chart(
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    *,
    title: str,
    unit: str = "",
    bands: Sequence[tuple[float, float, str]] = (),
    width: int = 560,
    height: int = 220,
    percent: bool = False,
    crisis: float | None = None,
    words: Mapping[str, str] | None = None,
) -> Markup:
    """Time series as lines with dots; ``bands`` shade value ranges (e.g. a target);
    values at or above ``crisis`` are ringed in red under a dashed crisis line.

    ``words`` translates the few words the chart writes itself (``value`` for one reading,
    ``values``, ``latest``, ``crisis``, ``in_crisis``) for the portal's languages.
    """
    said = {**CHART_WORDS, **(words or {})}
    points = [(t, v) for values in series.values() for t, v in values]
    if not points:
        return Markup("")
    if crisis is not None:
        points.append((points[0][0], crisis))  # keep the crisis line inside the plot
    left, top, bottom = 48, 26, 28
    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    span = (t1 - t0) or 1.0
    # The target band stays in view (a reading far from target shows how far).
    edges = [v for _, v in points] + [edge for lo, hi, _c in bands for edge in (lo, hi) if edge > 0]
    low, high = _nice_range(min(edges), max(edges))
    if percent:  # a rate is never below 0 % or above 100 %: no axis reads "-10%"
        low, high = _percent_axis(
            max(low, min(0.0, *edges)), min(high, max(1.0, *edges)), ceiling=max(1.0, *edges)
        )
    plot_w, plot_h = width - left - 16, height - top - bottom

    def x_of(t: datetime) -> float:
        return round(left + 6 + (t.timestamp() - t0) / span * plot_w, 1)

    def y_of(v: float) -> float:
        return round(top + (1 - (v - low) / (high - low)) * plot_h, 1)

    def fmt(v: float) -> str:
        # A rate rounds at whole percents (at tenths, 8 % and 12 % both read "10%"); + 0.0
        # turns the -0.0 of a tiny negative into 0 ("-0%").
        return f"{round(v, 2) + 0.0:.0%}" if percent else f"{round(v, 1) + 0.0:g}"

    def as_read(v: float) -> str:
        # A reading as it was taken (the axis rounds its ticks, never the reading itself).
        return fmt(v) if percent else f"{v:g}"

    yticks = [(y_of(low + (high - low) * i / 4), fmt(low + (high - low) * i / 4)) for i in range(5)]
    firsts = sorted({t for t, _ in points})
    picks = [firsts[0], firsts[len(firsts) // 2], firsts[-1]] if len(firsts) > 2 else firsts
    ticks = list(dict.fromkeys(picks))
    # The last date sits at the plot's right edge: centred on it, half the label fell outside
    # the chart, so it ends there instead.
    xticks = [
        (x_of(t), t.strftime("%b %d"), "end" if i and i == len(ticks) - 1 else "middle")
        for i, t in enumerate(ticks)
    ]
    drawn = []
    for index, (name, values) in enumerate(series.items()):
        ordered = sorted(values)
        dots = [(x_of(t), y_of(v), crisis is not None and v >= crisis) for t, v in ordered]
        drawn.append(
            {
                "name": f"{name} ({unit})" if unit else name,
                "colour": SERIES_COLOURS[index % len(SERIES_COLOURS)],
                "points": " ".join(f"{x},{y}" for x, y, _alarm in dots),
                "dots": dots,
            }
        )
    shaded = []
    for lo, hi, colour in bands:
        y_hi, y_lo = y_of(min(hi, high)), y_of(max(lo, low))
        if y_lo > y_hi:
            shaded.append({"y": y_hi, "h": y_lo - y_hi, "colour": colour})
    latest = ", ".join(
        f"{name} {said['latest']} {as_read(sorted(values)[-1][1])}{f' {unit}' if unit else ''}"
        for name, values in series.items()
        if values
    )
    count = sum(len(values) for values in series.values())
    alarms = sum(1 for s in drawn for _x, _y, alarm in s["dots"] if alarm)
    summary = f"{title}: {count} {said['value' if count == 1 else 'values']}; {latest}"
    if alarms:
        summary += f"; {alarms} {said['in_crisis']}"
    return Markup(  # noqa: S704 - the output of an autoescaped template
        _LINE.render(
            w=width,
            h=height,
            left=left,
            title=title,
            summary=summary,
            yticks=yticks,
            xticks=xticks,
            series=drawn,
            bands=shaded,
            crisis_y=y_of(crisis) if crisis is not None else None,
            crisis_label=f"{said['crisis']} ≥ {fmt(crisis)}" if crisis is not None else "",
        )
    )


def bar_chart(
    rows: Sequence[tuple[str, float | None]],
    *,
    title: str,
    percent: bool = True,
    colours: Sequence[str] | None = None,
    width: int = 560,
) -> Markup:
    """Horizontal bars; rates in [0, 1] with ``percent`` or counts without."""
    if not rows:
        return Markup("")
    label_w = 170
    top = max([v or 0.0 for _, v in rows] + [1.0 if percent else 0.0]) or 1.0
    bars = []
    for index, (label, value) in enumerate(rows):
        text = "n/a" if value is None else (f"{value:.0%}" if percent else f"{value:g}")
        bars.append(
            {
                "label": label,
                "text": text,
                "y": 6 + index * 28,
                "width": round((value or 0.0) / top * (width - label_w - 60)),
                "colour": (colours or SERIES_COLOURS)[index % len(colours or SERIES_COLOURS)]
                if colours
                else SERIES_COLOURS[0],
            }
        )
    summary = f"{title}: " + "; ".join(f"{b['label']} {b['text']}" for b in bars)
    return Markup(  # noqa: S704 - the output of an autoescaped template
        _BARS.render(
            w=width, h=len(rows) * 28 + 10, label_w=label_w, bars=bars, title=title, summary=summary
        )
    )


def interval_chart(
    *, difference: float, low: float, high: float, title: str, width: int = 560
) -> Markup:
    """A point estimate with its 95 % interval, against a dashed line at zero."""
    edge = max(abs(low), abs(high), abs(difference), 0.01) * 1.2

    def x_of(v: float) -> float:
        return round(20 + (v + edge) / (2 * edge) * (width - 40), 1)

    summary = f"{title}: difference {difference:+.1%}, 95% interval {low:+.1%} to {high:+.1%}"
    return Markup(  # noqa: S704 - the output of an autoescaped template
        _INTERVAL.render(
            w=width,
            zero=x_of(0.0),
            lo=x_of(low),
            hi=x_of(high),
            mid=x_of(difference),
            lo_text=f"{low:+.1%}",
            hi_text=f"{high:+.1%}",
            title=title,
            summary=summary,
        )
    )
