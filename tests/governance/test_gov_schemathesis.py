"""A schemathesis run over the whole OpenAPI schema, with valid credentials.

For every operation, schema-valid requests (a bounded number per operation) must never get a
5xx nor a response that contradicts the schema; and any 2xx on a patient route must have
written an audit event. Record of the last run: docs/security.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.conftest import START
from tests.governance.conftest import PATIENT_A, count_audit, load

from careloop.clock import FrozenClock
from careloop.runtime import open_runtime
from careloop.security.auth import create_user, issue_token
from careloop.web.app import create_app

MAX_EXAMPLES = 12
# The run looks for 5xx and schema violations, not latency: on a shared 2-core machine the
# content lint (every variant of the library) can pass schemathesis's 10 s default, and a
# timeout would be reported as a failure of the API.
TIMEOUT_SECONDS = 120
STATS: list[tuple[str, str, int]] = []


def _user(rt: Any, role: str) -> Any:
    with rt.transaction() as session:
        return create_user(
            session,
            clock=rt.clock,
            username=f"fuzz-{role}",
            password="fuzzing tulip harbour 42",
            role=role,
        )


def _fresh_headers(rt: Any, user: Any) -> dict[str, str]:
    """A new token per request: the run also calls sign-out, which revokes the token used."""
    with rt.transaction() as session:
        token = issue_token(session, clock=rt.clock, user=user).token
    return {"Authorization": f"Bearer {token}"}


def _fuzz(rt: Any, operation: Any, user: Any) -> None:
    """Run one operation's generated cases through the checks (raises on the first failure)."""
    fixed = {"patient_id": PATIENT_A} if "{patient_id}" in operation.path else None

    @given(case=operation.as_strategy(path_parameters=fixed))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        headers = _fresh_headers(rt, user)
        before = count_audit(rt)
        response = case.call(headers=headers, timeout=TIMEOUT_SECONDS)
        STATS.append((case.method, case.path, response.status_code))
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance], headers=headers
        )
        if case.path.startswith("/api/patients") and 200 <= response.status_code < 300:
            assert count_audit(rt) > before, f"{case.method} {case.path} wrote no audit"

    run()


def test_no_schema_valid_request_breaks_the_api(tmp_path: Path) -> None:
    rt = open_runtime(database=f"sqlite:///{tmp_path / 'fuzz.db'}", clock=FrozenClock(START))
    load(rt, tmp_path)
    app = create_app(rt)
    users = {role: _user(rt, role) for role in ("clinician", "admin")}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tested: list[str] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        role = "admin" if operation.path.startswith("/api/audit") else "clinician"
        name = f"{operation.method.upper()} {operation.path}"
        try:
            _fuzz(rt, operation, users[role])
        except Exception as exc:  # collect every failing operation, not only the first
            failures.append(f"{name}: {str(exc)[:600]}")
        tested.append(name)
    rt.close()
    assert not failures, "\n\n".join(failures)
    assert len(tested) >= 30
    assert len(STATS) >= 5 * len(tested)
