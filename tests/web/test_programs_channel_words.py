"""The programs page's learning curve by channel names each line as the console names a
channel elsewhere ("Text message", "Phone call"), not by its code ("sms", "voice") (walk9,
the demo console as a clinician). On both databases."""

from __future__ import annotations

import re
from typing import Any

from careloop.runtime import Runtime
from tests.web.test_programs_chart import _sends


def test_the_channel_curve_names_its_lines_in_words(rt: Runtime, api_client: Any) -> None:
    _sends(rt)

    page = api_client("admin").get("/console/programs")

    assert page.status_code == 200
    charts = re.findall(r"<svg.*?</svg>", page.text, re.S)
    chart = next(c for c in charts if "Engagement by channel" in c)
    legend = re.findall(r'font-size="12"\s+fill="#1b1f24">([^<]+)</text>', chart)
    assert legend == ["Text message"]
    assert "Text message latest" in chart
    assert ">sms<" not in chart
