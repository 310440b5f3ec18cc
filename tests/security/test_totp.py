"""Optional TOTP second factor for staff (issue 21, item 7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.clock import FrozenClock
from careloop.runtime import Runtime
from careloop.security.auth import create_user

PASSWORD = "correct horse battery staple"


def test_an_account_with_totp_needs_a_fresh_code(
    rt: Runtime, api_client: Any, clock: FrozenClock
) -> None:
    with rt.transaction() as session:
        create_user(session, clock=rt.clock, username="nurse", password=PASSWORD, role="clinician")
    client = api_client(None)
    credentials = {"username": "nurse", "password": PASSWORD}
    assert client.post("/api/auth/token", json=credentials).status_code == 200

    result = CliRunner().invoke(
        cli, ["users", "enable-totp", "nurse", "--database", rt.settings.database_url]
    )
    assert result.exit_code == 0, result.output
    uri = result.output.strip()
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.TOTP(parse_qs(urlsplit(uri).query)["secret"][0])

    def sign_in(otp: str | None) -> int:
        body = {**credentials, "otp": otp} if otp is not None else credentials
        return int(client.post("/api/auth/token", json=body).status_code)

    code = totp.at(clock.now())
    assert sign_in(None) == 401
    assert sign_in("000000" if code != "000000" else "111111") == 401
    assert sign_in(code) == 200
    assert sign_in(code) == 401  # the same code twice: replay refused
    clock.advance(timedelta(seconds=30))
    assert sign_in(totp.at(clock.now())) == 200


def test_enable_totp_for_an_unknown_user_is_a_clean_cli_error(rt: Runtime) -> None:
    result = CliRunner().invoke(
        cli, ["users", "enable-totp", "nobody", "--database", rt.settings.database_url]
    )
    assert result.exit_code == 2
    assert "no such user" in result.output
