"""A browser refused at the console sign-in (too many tries) is told when to try again.

The console's error page keeps the limiter's ``Retry-After`` that the JSON answer had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from careloop.runtime import Runtime

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_too_many_sign_ins_say_when_to_try_again(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    browser = api_client(None)
    form = {"username": "nobody", "password": "wrong"}
    answers = [browser.post("/console/sign-in", data=form, headers=BROWSER) for _ in range(15)]
    refused = [a for a in answers if a.status_code == 429]

    assert refused, [a.status_code for a in answers]
    assert refused[0].headers["content-type"].startswith("text/html")  # ux3's page
    assert int(refused[0].headers["Retry-After"]) >= 1
