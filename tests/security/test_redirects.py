"""``next`` after sign-in is a same-origin console path or nothing (issue 21, item 5)."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.security.redirects import same_origin_path


def _browser_target(location: str) -> str:
    """What a browser makes of a Location header: tabs/newlines dropped, ``\\`` as ``/``,
    ``%2e`` as a dot, dot segments resolved."""
    cleaned = "".join(c for c in location if c not in "\t\n\r").replace("\\", "/")
    cleaned = re.sub("%2e", ".", cleaned, flags=re.IGNORECASE)
    return urljoin("https://careloop.example/console/sign-in", cleaned)


@pytest.mark.parametrize(
    "value",
    [
        "/\t/evil.example",
        "/%09/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/console",
        "/console\r\nSet-Cookie: x=1",
        "/console/\n",
        "javascript:alert(1)",
        "/portal",
        "/consolex",
        " /console",
        "/console/..//evil.example",
        "/console/../api/audit",
        "/console/%2e%2e/api/audit",
        "/console/.%2E/portal",
        "/console/./../portal",
    ],
)
def test_off_site_or_malformed_next_falls_back_to_the_default(value: str) -> None:
    assert same_origin_path(value, prefix="/console", default="/console") == "/console"


def test_a_console_path_with_its_query_is_kept() -> None:
    value = "/console/worklist?severity=urgent"
    assert same_origin_path(value, prefix="/console", default="") == value


@given(st.text(max_size=60))
def test_whatever_next_is_the_browser_stays_on_the_console(value: str) -> None:
    kept = same_origin_path(value, prefix="/console", default="/console")
    target = _browser_target(kept)
    assert target.startswith("https://careloop.example/console")
    assert not any(c in kept for c in "\t\n\r\\")


# What follows the prefix in a crafted ``next``: separators, dot segments (also encoded).
_PIECES = ["/", ".", "..", "%2e", "%2E", "evil.example", "\t", "\\", "?", "#", "x"]


@given(st.lists(st.sampled_from(_PIECES), max_size=8).map(lambda p: "/console/" + "".join(p)))
def test_no_crafted_next_leaves_the_console(value: str) -> None:
    kept = same_origin_path(value, prefix="/console", default="/console")
    assert _browser_target(kept).startswith("https://careloop.example/console")


def test_the_sign_in_form_redirects_only_on_site(rt, api_client) -> None:  # type: ignore[no-untyped-def]
    from careloop.security.auth import create_user

    with rt.transaction() as session:
        create_user(
            session,
            clock=rt.clock,
            username="redirect-nurse",
            password="correct horse battery staple",
            role="clinician",
        )
    client = api_client(None)
    for evil in ("/\t/evil.example", "/console\nX: y", "/console/..//evil.example"):
        form = client.get("/console/sign-in").text
        token = re.search(r'name="signin_csrf" value="([^"]+)"', form)
        assert token is not None
        response = client.post(
            "/console/sign-in",
            data={
                "username": "redirect-nurse",
                "password": "correct horse battery staple",
                "next": evil,
                "signin_csrf": token.group(1),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/console"
