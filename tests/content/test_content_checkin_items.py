"""Check-in items: our own 0-4 wording ships; licensed instruments load from a site folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from careloop.content.checkin import load_instruments
from careloop.errors import Conflict, InvalidInput


def test_shipped_symptom_checkin_is_ours_in_both_languages_on_a_0_to_4_scale() -> None:
    shipped = load_instruments()
    english, spanish = shipped[("symptom_checkin", "en")], shipped[("symptom_checkin", "es")]
    assert [o.value for o in english.scale] == [0, 1, 2, 3, 4]
    assert [o.value for o in spanish.scale] == [0, 1, 2, 3, 4]
    assert [i.id for i in english.items] == [i.id for i in spanish.items]
    text = " ".join([english.question, *(i.text for i in english.items)]).lower()
    # Phrases of the licensed PRO-CTCAE item stems must not appear in what we ship.
    assert "at its worst" not in text
    assert "in the last 7 days" not in text


def _site_item(folder: Path, **overrides: object) -> Path:
    document: dict[str, object] = {
        "instrument": "site_licensed_fatigue",
        "title": "Licensed fatigue items",
        "license": "Used under the site's licence agreement no. 123",
        "question": "Licensed question text",
        "scale": [{"value": v, "label": f"L{v}"} for v in range(5)],
        "items": [{"id": "fatigue_severity", "text": "Licensed item text"}],
    }
    document.update(overrides)
    (folder / "en").mkdir(parents=True, exist_ok=True)
    path = folder / "en" / f"{document['instrument']}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_site_loads_its_licensed_items_from_its_own_folder(tmp_path: Path) -> None:
    _site_item(tmp_path)
    loaded = load_instruments(extra_dirs=[tmp_path])
    site = loaded[("site_licensed_fatigue", "en")]
    assert site.source == str(tmp_path)
    assert site.license.startswith("Used under")
    assert ("symptom_checkin", "en") in loaded


def test_site_items_must_name_their_licence(tmp_path: Path) -> None:
    _site_item(tmp_path, license="")
    with pytest.raises(InvalidInput) as caught:
        load_instruments(extra_dirs=[tmp_path])
    assert caught.value.field == "license"


def test_a_site_instrument_never_silently_replaces_a_shipped_one(tmp_path: Path) -> None:
    _site_item(tmp_path, instrument="symptom_checkin")
    with pytest.raises(Conflict):
        load_instruments(extra_dirs=[tmp_path])
