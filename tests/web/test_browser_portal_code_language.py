"""A patient on a phone switches the portal's language while entering the sign-in code (walk9):
the language links of the code step used to repeat the page's address with ``?lang=``, which
for the code step is a form's address, so the patient got "405 Method Not Allowed" (after a
mistyped code) or the first step again (the code typed for nothing). Now the code step is
shown again, in the chosen language, and the code that was sent still signs in."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, ask_for_code


def _switch_to_spanish_and_sign_in(page: Any, code: str) -> None:
    with page.expect_response(lambda r: "lang=es" in r.url) as switched:
        page.get_by_role("link", name="Español").click()
    assert switched.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrar a Mi cuidado")
    page.get_by_label("El código de 6 dígitos").fill(code)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/portal")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_switching_language_at_the_code_step_keeps_the_code_step(
    phone_page: Any, site: Site
) -> None:
    code = ask_for_code(phone_page, site)
    _switch_to_spanish_and_sign_in(phone_page, code)


def test_switching_language_after_a_mistyped_code_keeps_the_code_step(
    phone_page: Any, site: Site
) -> None:
    code = ask_for_code(phone_page, site)
    wrong = "111111" if code != "111111" else "222222"
    phone_page.get_by_label("The 6-digit code").fill(wrong)
    phone_page.get_by_role("button", name="Sign in").click()
    expect(
        phone_page.get_by_role("alert").filter(has_text="That code did not work")
    ).to_be_visible()
    _switch_to_spanish_and_sign_in(phone_page, code)
