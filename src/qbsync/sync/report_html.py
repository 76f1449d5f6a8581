"""The HTML rendering of `qbsync report`: one self-contained, printable file.

Rendered from ``qbsync/templates/report.html.j2`` with Jinja2 and autoescaping on for every
value: member names, invoice numbers and reasons come from the platform and are hostile input
(a member named ``<script>...`` must print as text). ``autoescape=True`` is set outright:
``select_autoescape`` decides by the template's extension, and ``.j2`` is not one it escapes.
No script, no external stylesheet, font or image: the chart is inline SVG drawn from
``report.chart_bars``.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from qbsync.sync.report import (
    CHART_HEIGHT,
    CHART_TOP,
    CHART_WIDTH,
    Report,
    chart_bars,
    period_text,
)

TEMPLATE = "report.html.j2"


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("qbsync", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the render instead of printing ""
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: Report) -> str:
    template = environment().get_template(TEMPLATE)
    return template.render(
        report=report,
        period=period_text(report.date_from, report.date_to),
        bars=chart_bars(report.days),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        chart_top=CHART_TOP,
        chart_max=max((d.platform_total for d in report.days), default=None),
    )
