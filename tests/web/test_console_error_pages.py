"""A console page that cannot be shown is a page in the console's layout, in words.

An unknown patient id or an address the console cannot read (``?page=abc``) answered a nurse's
browser with raw JSON (``{"error": "no such patient"}``). The API, htmx requests and any
client that does not ask for HTML keep the JSON answers they had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from careloop.runtime import Runtime

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("url", "status", "heading", "words"),
    [
        ("/console/patients/no-such-id", 404, "Not found", "No such patient."),
        (
            "/console/worklist?page=abc",
            422,
            "This address could not be read",
            "The value of “page” in the address cannot be used.",
        ),
        ("/console/patients?page=x", 422, "This address could not be read", "“page”"),
        ("/console/no-such-page", 404, "Not found", "There is no such page or record."),
    ],
)
def test_a_nurse_gets_a_console_page_in_words(
    rt: Runtime,
    api_client: Callable[..., Any],
    url: str,
    status: int,
    heading: str,
    words: str,
) -> None:
    page = api_client("clinician").get(url, headers=BROWSER)

    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>{heading}</h1>" in page.text
    assert words in page.text
    assert 'href="/console/worklist"' in page.text  # the console's own navigation
    assert '"error"' not in page.text


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/console/patients/no-such-id", {}),  # a client that does not ask for HTML
        ("/console/patients/no-such-id", {**BROWSER, "HX-Request": "true"}),  # htmx
        ("/api/patients/no-such-id", BROWSER),  # the API, even from a browser
    ],
)
def test_api_and_htmx_clients_keep_json(
    rt: Runtime, api_client: Callable[..., Any], url: str, headers: dict[str, str]
) -> None:
    answer = api_client("clinician").get(url, headers=headers)

    assert answer.status_code == 404
    assert answer.json() == {"error": "no such patient"}


def test_a_bad_query_keeps_its_json_contract_for_api_clients(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    answer = api_client("clinician").get("/console/worklist?page=abc")

    assert answer.status_code == 422
    assert answer.json()["field"] == "query.page"
