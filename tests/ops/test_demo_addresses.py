"""``careloop demo`` tells staff where to open the console and the portal at the address the
deployment configured, not a fixed development address."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from careloop.cli.demo_run import DemoReport, step_console, step_import
from careloop.runtime import Runtime
from careloop.settings import SecuritySettings, WebSettings


def _printed(rt: Runtime) -> str:
    printed = io.StringIO()
    report = DemoReport(database="test")
    step_import(rt, Console(file=printed, width=400), report)
    step_console(rt, Console(file=printed, width=400), report)
    return " ".join(printed.getvalue().split())  # a table title wraps at the table's width


def test_the_demo_points_staff_at_the_public_url_when_one_is_set(rt: Runtime) -> None:
    public = SecuritySettings(public_base_url="https://care.example.org/")
    shown = _printed(replace(rt, settings=rt.settings.model_copy(update={"security": public})))

    assert "then open https://care.example.org/console" in shown
    assert "at https://care.example.org/portal/sign-in" in shown
    assert "127.0.0.1:8000" not in shown


def test_without_a_public_url_the_demo_names_the_port_serve_listens_on(rt: Runtime) -> None:
    web = WebSettings(host="0.0.0.0", port=8770)
    shown = _printed(replace(rt, settings=rt.settings.model_copy(update={"web": web})))

    assert "then open http://127.0.0.1:8770/console" in shown
    assert "at http://127.0.0.1:8770/portal/sign-in" in shown
