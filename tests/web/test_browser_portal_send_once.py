"""A patient's message to the care team is sent once, however the Send button is pressed.

Found walking the demo: a double click (or double tap) on "Enviar" stored the same message
twice, so the care team read it twice and the patient saw it twice in their conversation;
a form sent again (a retried request, a resubmitted page) did the same."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, portal_sign_in


def _fields(page: Any) -> dict[str, str]:
    """The fields the messages form posts, as the browser would send them."""
    return dict(
        page.eval_on_selector(
            "form[action='/portal/messages']",
            "f => Array.from(new FormData(f).entries())",
        )
    )


def test_a_double_click_on_send_sends_the_message_once(phone_page: Any, site: Site) -> None:
    words = f"Fever and chills since this morning {uuid.uuid4().hex[:6]}"
    portal_sign_in(phone_page, site)
    phone_page.goto("/portal/messages")
    phone_page.get_by_label("Write to your care team").fill(words)

    phone_page.get_by_role("button", name="Send", exact=True).dblclick()
    expect(phone_page.get_by_role("status")).to_contain_text("sent", timeout=15_000)
    phone_page.goto("/portal/messages")

    expect(phone_page.get_by_test_id("message").filter(has_text=words)).to_have_count(1)


def test_the_same_form_sent_again_is_not_a_second_message(phone_page: Any, site: Site) -> None:
    words = f"My ankles are swollen again {uuid.uuid4().hex[:6]}"
    portal_sign_in(phone_page, site)
    phone_page.goto("/portal/messages")
    phone_page.get_by_label("Write to your care team").fill(words)
    fields = _fields(phone_page)

    first = phone_page.request.post("/portal/messages", form=fields)
    again = phone_page.request.post("/portal/messages", form=fields)
    phone_page.goto("/portal/messages")

    assert (first.status, again.status) == (200, 200)
    expect(phone_page.get_by_test_id("message").filter(has_text=words)).to_have_count(1)
