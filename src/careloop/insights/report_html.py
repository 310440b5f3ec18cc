"""The program report as one self-contained HTML page with SVG charts (no CDN, no scripts).

Charts are drawn here as plain SVG so the page works offline inside a hospital network and
prints as it shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_BAR = "#2f6f9f"
_HOLD = "#9a9a9a"


def bar_chart(rows: Sequence[tuple[str, float | None]], *, title: str, percent: bool = True) -> str:
    """A horizontal bar chart; values are rates in [0, 1] (or counts when percent=False)."""
    width, bar_h, gap, label_w = 520, 20, 8, 150
    values = [v or 0.0 for _, v in rows]
    top = max([*values, 1.0])
    height = len(rows) * (bar_h + gap) + 30
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string(
        """<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}"
 role="img" aria-label="{{ title }}"><title>{{ title }}</title>
{% for label, value, y, w in bars %}
<text x="0" y="{{ y + 15 }}" font-size="13" fill="#222">{{ label }}</text>
<rect x="{{ label_w }}" y="{{ y }}" width="{{ w }}" height="{{ bar_h }}" fill="{{ colour }}"/>
<text x="{{ label_w + w + 6 }}" y="{{ y + 15 }}" font-size="13" fill="#222">{{ value }}</text>
{% endfor %}</svg>"""
    )
    bars = []
    for index, (label, value) in enumerate(rows):
        scaled = (value or 0.0) / top if top else 0.0
        text = "n/a" if value is None else (f"{value:.0%}" if percent else f"{value:g}")
        bars.append(
            (label, text, 10 + index * (bar_h + gap), round(scaled * (width - label_w - 60)))
        )
    return template.render(
        width=width,
        height=height,
        title=title,
        bars=bars,
        label_w=label_w,
        bar_h=bar_h,
        colour=_BAR,
    )


def uplift_chart(experiment: dict[str, Any], *, title: str) -> str:
    """Treated vs holdout completion with the 95 % interval of the difference."""
    intended = experiment.get("as_intended")
    if not intended:
        return ""
    rows = [("treated", intended["treated_rate"]), ("holdout", intended["holdout_rate"])]
    chart = bar_chart(rows, title=title)
    low, high = intended["ci95"]
    return chart.replace(
        "</svg>",
        f'<text x="0" y="{len(rows) * 28 + 24}" font-size="13" fill="{_HOLD}">difference '
        f"{intended['difference']:+.1%} (95 % CI {low:+.1%} to {high:+.1%})</text></svg>",
    )


def render_report_html(report: dict[str, Any], *, titles: Mapping[str, str] | None = None) -> str:
    """The page; ``titles`` puts each program's title over its section (the name otherwise:
    the programs' titles live a layer above, so the face passes them)."""
    env = Environment(
        loader=PackageLoader("careloop.insights", "templates"),
        autoescape=select_autoescape(default=True),
    )
    charts = {}
    for program in report["programs"]:
        reach = program["reach"]
        funnel = [
            ("eligible", float(reach["eligible"])),
            ("enrolled", float(reach["enrolled"])),
            ("contacted", float(reach["contacted"])),
            ("engaged", float(program["engagement"]["engaged_within_72h"])),
            ("completed", float(program["completion"]["completed"])),
        ]
        charts[program["program"]] = {
            "funnel": bar_chart(funnel, title="Funnel (patients)", percent=False),
            "channels": bar_chart(
                [(c["channel"], c["engagement_rate"]) for c in program["channels"]],
                title="Engagement within 72 h by channel",
            )
            if program["channels"]
            else "",
            "uplift": uplift_chart(program["experiment"], title="Completion: treated vs holdout"),
        }
    return env.get_template("report.html").render(
        report=report, charts=charts, titles=dict(titles or {})
    )
