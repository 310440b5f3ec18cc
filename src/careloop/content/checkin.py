"""Check-in instruments: the questions a symptom check-in asks, per language.

careloop ships its own symptom check-in (our wording, 0–4 severity). Licensed instruments
(PRO-CTCAE, PROMIS, ...) may not be bundled in an open-source repository; a site that holds
a licence puts their items, in the same YAML shape, in a folder of its own and loads it with
``extra_dirs`` (``careloop content checkin-items --items-dir PATH``). A site file must name
its licence, and a site instrument never silently replaces a shipped one.

YAML shape (``<dir>/<language>/<instrument>.yaml``)::

    instrument: symptom_checkin
    title: ...
    license: ...
    question: Since your last check-in, how bad has this been?
    scale: [{value: 0, label: Not at all}, ..., {value: 4, label: Very bad}]
    items: [{id: pain, text: Pain anywhere in your body}, ...]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from careloop.errors import Conflict, InvalidInput

SHIPPED_DIR = Path(__file__).parent / "checkin"


@dataclass(frozen=True)
class AnswerOption:
    value: int
    label: str


@dataclass(frozen=True)
class CheckinItem:
    id: str
    text: str


@dataclass(frozen=True)
class Instrument:
    """One instrument in one language: a shared question and scale over several items."""

    id: str
    language: str
    title: str
    license: str
    question: str
    scale: tuple[AnswerOption, ...]
    items: tuple[CheckinItem, ...]
    source: str  # "shipped" or the site folder it came from


def load_instruments(
    *, extra_dirs: Iterable[Path] = (), include_shipped: bool = True
) -> dict[tuple[str, str], Instrument]:
    """Instruments by (id, language): the shipped ones plus those in the site's folders."""
    found: dict[tuple[str, str], Instrument] = {}
    folders = ([SHIPPED_DIR] if include_shipped else []) + list(extra_dirs)
    for folder in folders:
        if not folder.is_dir():
            raise InvalidInput(f"no check-in items folder at {folder}", field="items_dir")
        source = "shipped" if folder == SHIPPED_DIR else str(folder)
        for path in sorted(folder.glob("*/*.yaml")):
            instrument = _parse(path, language=path.parent.name, source=source)
            key = (instrument.id, instrument.language)
            if key in found:
                raise Conflict(
                    f"{path}: instrument {instrument.id!r} in {instrument.language} is "
                    f"already defined by {found[key].source}"
                )
            found[key] = instrument
    return found


def _parse(path: Path, *, language: str, source: str) -> Instrument:
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path.name}: not valid YAML ({exc})", field="items_dir") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"{path.name}: not a mapping", field="items_dir")
    for required in ("instrument", "license", "question", "scale", "items"):
        if not document.get(required):
            raise InvalidInput(f"{path.name}: '{required}' is required", field=required)
    scale = tuple(
        AnswerOption(value=int(o["value"]), label=str(o["label"])) for o in document["scale"]
    )
    values = [o.value for o in scale]
    if values != sorted(set(values)):
        raise InvalidInput(f"{path.name}: scale values must increase", field="scale")
    items = tuple(CheckinItem(id=str(i["id"]), text=str(i["text"])) for i in document["items"])
    if len({i.id for i in items}) != len(items):
        raise InvalidInput(f"{path.name}: item ids must be unique", field="items")
    return Instrument(
        id=str(document["instrument"]),
        language=language,
        title=str(document.get("title", document["instrument"])),
        license=str(document["license"]),
        question=str(document["question"]),
        scale=scale,
        items=items,
        source=source,
    )
