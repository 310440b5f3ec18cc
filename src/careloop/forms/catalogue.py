"""The forms a practice sends: FHIR Questionnaires, one file per form and language.

``definitions/<language>/<form>.json``; the form's kind (``intake``, ``consent``,
``questionnaire``) is its code in :data:`KIND_SYSTEM`. A consent form shows its statement
(a ``display`` item) and asks one required ``boolean`` item: signing it is agreeing.
Only the item types the phone page can draw are accepted, so a form never reaches a
patient with a question they cannot answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.questionnaire import Questionnaire
from pydantic import ValidationError

from careloop.errors import InvalidInput, NotFound

DEFINITIONS = Path(__file__).with_name("definitions")
KIND_SYSTEM = "https://careloop.dev/fhir/CodeSystem/form-kind"
ANSWER_TYPES = frozenset({"string", "text", "boolean", "integer", "date", "choice"})
DEFAULT_LANGUAGE = "en"


class FormKind(StrEnum):
    INTAKE = "intake"
    CONSENT = "consent"
    QUESTIONNAIRE = "questionnaire"


@dataclass(frozen=True, slots=True)
class FormItem:
    link_id: str
    text: str
    type: str
    required: bool
    options: tuple[tuple[str, str, str], ...]
    """(system, code, display) of each answer option of a ``choice`` item."""


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    language: str
    kind: FormKind
    title: str
    url: str
    version: str
    items: tuple[FormItem, ...]

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"

    @property
    def statement(self) -> str:
        """What a consent form asks the patient to agree to (its display items)."""
        return " ".join(i.text for i in self.items if i.type == "display")


def _item(raw: dict[str, Any], form_id: str) -> FormItem:
    kind = raw.get("type")
    if kind != "display" and kind not in ANSWER_TYPES:
        raise InvalidInput(f"form {form_id}: item type {kind!r} is not supported", field="type")
    options = tuple(
        (str(c.get("system", "")), str(c["code"]), str(c.get("display", c["code"])))
        for o in raw.get("answerOption") or []
        if (c := o.get("valueCoding"))
    )
    if kind == "choice" and not options:
        raise InvalidInput(f"form {form_id}: choice item without options", field="answerOption")
    return FormItem(
        str(raw["linkId"]), str(raw.get("text", "")), str(kind), bool(raw.get("required")), options
    )


def _read(path: Path) -> Form:
    raw = orjson.loads(path.read_bytes())
    try:
        Questionnaire.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"form {path.stem}: not a valid Questionnaire", field="item") from exc
    kinds = [c["code"] for c in raw.get("code") or [] if c.get("system") == KIND_SYSTEM]
    if len(kinds) != 1 or kinds[0] not in set(FormKind):
        raise InvalidInput(f"form {path.stem}: needs one kind in {KIND_SYSTEM}", field="code")
    form = Form(
        id=path.stem,
        language=path.parent.name,
        kind=FormKind(kinds[0]),
        title=str(raw["title"]),
        url=str(raw["url"]),
        version=str(raw.get("version", "1")),
        items=tuple(_item(i, path.stem) for i in raw.get("item") or []),
    )
    if form.kind is FormKind.CONSENT and (
        not form.statement or not any(i.type == "boolean" and i.required for i in form.items)
    ):
        raise InvalidInput(f"form {form.id}: a consent needs a statement and a required yes")
    return form


@lru_cache(maxsize=1)
def load_forms() -> dict[tuple[str, str], Form]:
    """Every shipped form by (form id, language)."""
    return {(f.id, f.language): f for f in map(_read, sorted(DEFINITIONS.glob("*/*.json")))}


def form_ids() -> list[str]:
    return sorted({form_id for form_id, _ in load_forms()})


def find_form(form_id: str, language: str | None = None) -> Form:
    """The form in ``language`` if it is written in it, else in English."""
    forms = load_forms()
    wanted = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
    form = forms.get((form_id, wanted)) or forms.get((form_id, DEFAULT_LANGUAGE))
    if form is None:
        raise NotFound(f"no form {form_id!r}; known: {', '.join(form_ids())}")
    return form
