"""The console's Content page: the grade and problems of every stored version, as the content
lint finds them, without seconds of loading on a view (issue: the page took 1.8-2.7 s)."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from careloop.content import service
from careloop.content.library import load_library
from careloop.content.lint import lint_variant
from careloop.runtime import Runtime
from tests.content.content_helpers import subset

MESSAGES = {"mammogram_due", "appointment_reminder_1d"}


def _grades(html: str) -> list[str]:
    """The Grade column of the page, row by row."""
    return [
        re.sub(r"\s+", " ", cell).strip()
        for cell in re.findall(r"<td>([^<]*?(?:<br>.*?)?)</td>\s*<td><span class=\"badge", html)
    ]


def test_the_page_shows_the_lint_of_each_version_and_the_same_on_every_view(
    rt: Runtime, api_client: Any
) -> None:
    shipped = load_library()
    with rt.transaction() as session:
        service.sync_library(session, library=subset(shipped, keep=MESSAGES), clock=rt.clock)
        rows = service.list_versions(session, message="mammogram_due")
        expected = [lint_variant(shipped, service.variant_of(row)) for row in rows]
    editor = api_client("admin")

    first = editor.get("/console/content?message=mammogram_due")
    again = editor.get("/console/content?message=mammogram_due")

    assert first.status_code == 200
    assert again.text == first.text
    shown = _grades(first.text)
    assert len(shown) == len(expected) > 0
    for cell, report in zip(shown, expected, strict=True):
        grade = "—" if report.grade is None else f"{report.grade:.1f}"
        assert cell.startswith(grade), (cell, report)
        for problem in report.problems:
            assert problem.replace("'", "&#39;") in cell


def test_grading_words_loads_no_language_toolkit() -> None:
    """The first grade in a process used to import textstat, and with it NLTK and its
    dictionary: seconds before the Content page could answer."""
    probe = (
        "import sys, time\n"
        "from careloop.content.readability import measure\n"
        "start = time.process_time()\n"
        "measure('Your mammogram is due. Call us to book a visit.', language='en')\n"
        "print('nltk' in sys.modules, time.process_time() - start)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()

    assert out[0] == "False"
    assert float(out[1]) < 1.0
