"""A coordinator's ``careloop schedule send-offer`` without ``--service`` offers only what the
patient is due for, as the portal's visits page does: the text names no service ("reply 1 for
Wed 3:45 PM"), so a man texted the best times of every schedule was one reply away from a
mammogram booked in his name."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from careloop.access.offers import choices_of
from careloop.cli import app
from careloop.models import AccessOffer
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import john_and_two_clinics, make_due

runner = CliRunner()


def _send(rt: Runtime) -> tuple[int, str, str]:
    sent = runner.invoke(
        app, ["schedule", "send-offer", "john", "--database", rt.settings.database_url, "--json"]
    )
    return sent.exit_code, sent.stdout, sent.stderr


def test_send_offer_without_a_service_offers_what_the_patient_is_due_for(
    rt: Runtime, tmp_path: Path
) -> None:
    john_and_two_clinics(rt, tmp_path)
    make_due(rt, "john", "colorectal-cancer-screening")

    code, out, err = _send(rt)

    assert code == 0, err
    with rt.transaction() as session:
        offer = session.scalars(select(AccessOffer)).one()
        offered = [c.slot for c in choices_of(offer)]
    assert json.loads(out)["offer"] == offer.id
    assert offered == ["s-colon"]


def test_send_offer_for_a_patient_due_for_nothing_asks_for_a_service(
    rt: Runtime, tmp_path: Path
) -> None:
    john_and_two_clinics(rt, tmp_path)

    code, _out, err = _send(rt)

    assert code != 0
    assert "due for no service booked online; name one with --service" in err
    assert "Traceback" not in err
    with rt.transaction() as session:
        assert session.scalars(select(AccessOffer)).all() == []
