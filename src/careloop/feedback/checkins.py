"""Check-in answers (FHIR QuestionnaireResponse): validation against the Questionnaire,
answer extraction and scoring.

Validation names the item at fault (``item.<linkId>``) so a form or an SMS flow can re-ask
exactly that question. Scores are recomputed from the answers' ordinal values, never
trusted from the sender: a stored total that disagrees with its answers is refused (a wrong
PHQ-9 total could hide a depression that needs follow-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from careloop.errors import InvalidInput
from careloop.feedback.timestamps import check_not_future, parse_instant
from careloop.fhirdata.references import reference_of

ORDINAL_URLS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
)
MIN_URL = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_URL = "http://hl7.org/fhir/StructureDefinition/maxValue"
CALCULATED_URL = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
LOINC = "http://loinc.org"
PHQ9_PANEL = "44249-1"
PHQ9_TOTAL = "44261-6"
# PHQ-9 items in questionnaire order (LOINC), for PHQ-9 renderings whose items carry no codes.
PHQ9_ITEMS = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)
_VALUE_FIELDS = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal", "valueInteger"),
    "integer": ("valueInteger",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
    "string": ("valueString",),
    "text": ("valueString",),
    "url": ("valueUri",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "quantity": ("valueQuantity", "valueDecimal", "valueInteger"),
    "attachment": ("valueAttachment",),
    "reference": ("valueReference",),
}


@dataclass(frozen=True)
class ItemAnswer:
    """One answered item, keyed by its first code (``system|code``) or else its linkId."""

    link_id: str
    key: str
    value: Any
    ordinal: float | None
    text: str | None = None

    @property
    def number(self) -> float | None:
        """The answer as a number when it has one (ordinal for choices)."""
        if self.ordinal is not None:
            return self.ordinal
        if isinstance(self.value, bool):
            return None
        if isinstance(self.value, int | float):
            return float(self.value)
        return None


@dataclass(frozen=True)
class Checkin:
    """A check-in read from a QuestionnaireResponse, scores recomputed."""

    response_id: str
    questionnaire: str
    instrument: str
    patient_ref: str | None
    authored: datetime | None
    status: str
    answers: dict[str, ItemAnswer] = field(default_factory=dict)
    total: float | None = None


def walk_items(items: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Questionnaire (or response) ``item`` list, nested groups included,
    parents before their children; anything that is not an item is skipped."""
    for item in items or []:
        if isinstance(item, dict):
            yield item
            yield from walk_items(item.get("item"))


def _ext(element: dict[str, Any], urls: tuple[str, ...] | str) -> Any:
    wanted = (urls,) if isinstance(urls, str) else urls
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") in wanted:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def instrument_of(questionnaire: dict[str, Any]) -> str:
    """A short name for the instrument: its first code, else its id."""
    codes = [c for c in questionnaire.get("code") or [] if isinstance(c, dict)]
    if codes and isinstance(codes[0].get("code"), str):
        code = str(codes[0]["code"])
        return "phq-9" if code == PHQ9_PANEL else code
    if _looks_like_phq9(questionnaire):
        return "phq-9"
    return str(questionnaire.get("id"))


def _looks_like_phq9(questionnaire: dict[str, Any]) -> bool:
    names = " ".join(
        str(questionnaire.get(k) or "") for k in ("url", "name", "title", "id")
    ).lower()
    return "phq9" in names.replace("-", "") or "patient health questionnaire - 9" in names


def _answer_options(
    questionnaire: dict[str, Any], item: dict[str, Any]
) -> list[tuple[dict[str, Any], float | None]]:
    """(coding, ordinal) pairs allowed for a choice item: answerOption or a contained ValueSet."""
    options = []
    for option in item.get("answerOption") or []:
        coding = option.get("valueCoding") if isinstance(option, dict) else None
        if isinstance(coding, dict):
            ordinal = _ext(option, ORDINAL_URLS)
            ordinal = _ext(coding, ORDINAL_URLS) if ordinal is None else ordinal
            options.append((coding, float(ordinal) if ordinal is not None else None))
    reference = item.get("answerValueSet")
    if isinstance(reference, str) and reference.startswith("#"):
        for contained in questionnaire.get("contained") or []:
            if contained.get("resourceType") != "ValueSet" or contained.get("id") != reference[1:]:
                continue
            for include in (contained.get("compose") or {}).get("include") or []:
                for concept in include.get("concept") or []:
                    coding = {"system": include.get("system"), "code": concept.get("code")}
                    ordinal = _ext(concept, ORDINAL_URLS)
                    options.append((coding, float(ordinal) if ordinal is not None else None))
    return options


def _item_keys(questionnaire: dict[str, Any]) -> dict[str, str]:
    """linkId → key: the item's first code, PHQ-9 LOINC codes by position, else the linkId."""
    keys: dict[str, str] = {}
    items = list(walk_items(questionnaire.get("item")))
    for item in items:
        codes = [c for c in item.get("code") or [] if isinstance(c, dict) and c.get("code")]
        if codes:
            keys[item["linkId"]] = f"{codes[0].get('system') or ''}|{codes[0]['code']}"
        else:
            keys[item["linkId"]] = str(item["linkId"])
    if _looks_like_phq9(questionnaire) or instrument_of(questionnaire) == "phq-9":
        scored = [
            i
            for i in items
            if i.get("type") == "choice"
            and not any(c.get("code") for c in i.get("code") or [] if isinstance(c, dict))
            and any(o is not None for _, o in _answer_options(questionnaire, i))
        ]
        if len(scored) == len(PHQ9_ITEMS):
            for item, code in zip(scored, PHQ9_ITEMS, strict=True):
                keys[item["linkId"]] = f"{LOINC}|{code}"
        for item in items:
            if item.get("type") in ("decimal", "integer", "quantity") and _is_total(item):
                keys[item["linkId"]] = f"{LOINC}|{PHQ9_TOTAL}"
    return keys


def _is_total(item: dict[str, Any]) -> bool:
    if _ext(item, CALCULATED_URL) is not None:
        return True
    return any(c.get("code") == PHQ9_TOTAL for c in item.get("code") or [] if isinstance(c, dict))


def _coding_matches(given: dict[str, Any], allowed: dict[str, Any]) -> bool:
    if given.get("code") != allowed.get("code"):
        return False
    # Answer lists published without a system (LOINC implied) match either way.
    return not (given.get("system") and allowed.get("system")) or given.get(
        "system"
    ) == allowed.get("system")


def _fail(link_id: str, message: str) -> InvalidInput:
    return InvalidInput(f"item {link_id}: {message}", field=f"item.{link_id}")


def _check_answer(
    questionnaire: dict[str, Any], item: dict[str, Any], answer: dict[str, Any]
) -> tuple[Any, float | None]:
    link_id = str(item["linkId"])
    kind = str(item.get("type"))
    allowed = _VALUE_FIELDS.get(kind, ())
    present = [k for k in answer if k.startswith("value")]
    if len(present) != 1 or present[0] not in allowed:
        raise _fail(link_id, f"expects a {kind} answer ({' or '.join(allowed) or 'none'})")
    value = answer[present[0]]
    ordinal: float | None = None
    if present[0] == "valueCoding":
        options = _answer_options(questionnaire, item)
        matched = [o for c, o in options if isinstance(value, dict) and _coding_matches(value, c)]
        if options and not matched:
            raise _fail(link_id, "answer is not one of the allowed options")
        ordinal = matched[0] if matched else None
    elif present[0] in ("valueInteger", "valueDecimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(link_id, "answer is not a number")
        if present[0] == "valueInteger" and not isinstance(value, int):
            raise _fail(link_id, "answer must be a whole number")
        low, high = _ext(item, MIN_URL), _ext(item, MAX_URL)
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail(link_id, f"answer must be between {low} and {high}")
    elif present[0] == "valueBoolean" and not isinstance(value, bool):
        raise _fail(link_id, "answer must be true or false")
    elif present[0] == "valueString" and not isinstance(value, str):
        raise _fail(link_id, "answer must be text")
    return value, ordinal


def _response_items(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from walk_items(response.get("item"))


def extract_answers(
    questionnaire: dict[str, Any], response: dict[str, Any]
) -> dict[str, ItemAnswer]:
    """Answers by key, validating each against its item; raises naming the item."""
    by_link = {str(i["linkId"]): i for i in walk_items(questionnaire.get("item"))}
    by_code = _items_by_code(questionnaire)
    panels = {str(c.get("code")) for c in questionnaire.get("code") or [] if isinstance(c, dict)}
    keys = _item_keys(questionnaire)
    answers: dict[str, ItemAnswer] = {}
    for given in _response_items(response):
        sent = str(given.get("linkId"))
        item = by_link.get(sent) or by_code.get(sent.rstrip("/").rsplit("/", 1)[-1])
        if item is None and sent.strip("/") in panels and not given.get("answer"):
            continue  # the LOINC form's panel as a group around its items
        if item is None:
            raise _fail(sent, "not an item of this questionnaire")
        link_id = str(item["linkId"])
        values = [a for a in given.get("answer") or [] if isinstance(a, dict)]
        if item.get("type") == "group":
            if values:
                raise _fail(link_id, "a group takes no answer")
            continue
        if len(values) > 1 and not item.get("repeats"):
            raise _fail(link_id, "only one answer is allowed")
        for answer in values[:1]:
            value, ordinal = _check_answer(questionnaire, item, answer)
            if isinstance(value, dict) and "value" in value and item.get("type") == "quantity":
                value = value["value"]
            answers[keys[link_id]] = ItemAnswer(
                link_id=link_id,
                key=keys[link_id],
                value=value,
                ordinal=ordinal,
                text=str(item.get("prefix") or item.get("text") or "")[:120] or None,
            )
    return answers


def _items_by_code(questionnaire: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Items by their LOINC code, for responses that link items by code (``/44250-9``).

    EHRs and apps send LOINC panel forms whose linkIds are the item codes, often as paths
    (LHC-Forms: ``/44250-9``); the codes, not the linkIds, are what both sides share.
    """
    found: dict[str, dict[str, Any]] = {}
    for item in walk_items(questionnaire.get("item")):
        for coding in item.get("code") or []:
            if isinstance(coding, dict) and coding.get("system") == LOINC and coding.get("code"):
                found.setdefault(str(coding["code"]), item)
    return found


def missing_required(questionnaire: dict[str, Any], checkin: Checkin) -> list[str]:
    """The linkIds of required items the check-in left unanswered, in questionnaire order."""
    given = {a.link_id for a in checkin.answers.values()}
    return [
        str(item["linkId"])
        for item in walk_items(questionnaire.get("item"))
        if item.get("required") and item.get("type") != "group" and item["linkId"] not in given
    ]


def _total_item(questionnaire: dict[str, Any]) -> dict[str, Any] | None:
    for item in walk_items(questionnaire.get("item")):
        if item.get("type") in ("decimal", "integer", "quantity") and _is_total(item):
            return item
    return None


def recompute_total(questionnaire: dict[str, Any], answers: dict[str, ItemAnswer]) -> float | None:
    """Sum of the answers' ordinal values when the questionnaire has a calculated total."""
    total_item = _total_item(questionnaire)
    if total_item is None:
        return None
    scored = [a.ordinal for a in answers.values() if a.ordinal is not None]
    return float(sum(scored))


def read_checkin(
    questionnaire: dict[str, Any],
    response: dict[str, Any],
    *,
    now: datetime | None,
) -> Checkin:
    """Validate ``response`` against ``questionnaire`` and read it; raises InvalidInput.

    With ``now`` the response is also checked as new input (authored time present, not in
    the future, required items answered); without it, it is read as stored history.
    """
    if response.get("resourceType") != "QuestionnaireResponse":
        raise InvalidInput("expected a QuestionnaireResponse", field="resourceType")
    status = response.get("status")
    if status not in ("completed", "amended", "in-progress"):
        raise InvalidInput("status must be completed, amended or in-progress", field="status")
    answers = extract_answers(questionnaire, response)
    authored: datetime | None = None
    if now is not None:
        authored = parse_instant(response.get("authored"), field="authored")
        check_not_future(authored, now=now, field="authored")
        if status == "completed":
            given = {a.link_id for a in answers.values()}
            for item in walk_items(questionnaire.get("item")):
                if (
                    item.get("required")
                    and item.get("type") != "group"
                    and (item["linkId"] not in given)
                ):
                    raise _fail(str(item["linkId"]), "is required")
    elif isinstance(response.get("authored"), str):
        try:
            authored = parse_instant(response["authored"], field="authored")
        except InvalidInput:
            authored = None
    total = recompute_total(questionnaire, answers)
    total_item = _total_item(questionnaire)
    if total is not None and total_item is not None:
        key = _item_keys(questionnaire)[total_item["linkId"]]
        stored = answers.pop(key, None)
        if stored is not None and stored.number is not None and abs(stored.number - total) > 1e-9:
            raise _fail(
                str(total_item["linkId"]),
                f"stored total {stored.number:g} does not match the answers, which sum to "
                f"{total:g}",
            )
        answers[key] = ItemAnswer(
            link_id=str(total_item["linkId"]), key=key, value=total, ordinal=None, text="total"
        )
    # Imported here: promis builds on this module's ItemAnswer (scores of one instrument).
    from careloop.feedback.promis import apply_global10_scores

    apply_global10_scores(questionnaire, answers)
    return Checkin(
        response_id=str(response.get("id") or ""),
        questionnaire=str(response.get("questionnaire") or ""),
        instrument=instrument_of(questionnaire),
        patient_ref=reference_of(response.get("subject")),
        authored=authored,
        status=str(status),
        answers=answers,
        total=total,
    )


def with_total(
    questionnaire: dict[str, Any], response: dict[str, Any], total: float | None
) -> dict[str, Any]:
    """The response with its calculated total filled in when the sender left it out."""
    item = _total_item(questionnaire)
    if total is None or item is None:
        return response
    link_id = item["linkId"]
    if any(i.get("linkId") == link_id for i in _response_items(response)):
        return response
    value = int(total) if float(total).is_integer() else total
    answer: dict[str, Any] = (
        {"valueQuantity": {"value": value, "unit": "{score}"}}
        if item.get("type") == "quantity"
        else {"valueDecimal": value}
        if item.get("type") == "decimal"
        else {"valueInteger": int(total)}
    )
    copy: dict[str, Any] = orjson.loads(orjson.dumps(response))
    siblings: list[dict[str, Any]] = copy.setdefault("item", [])
    # Put the total where the Questionnaire has it: inside the same group(s), if answered.
    for group_id in parent_link_ids(questionnaire, link_id):
        group = next((i for i in siblings if i.get("linkId") == group_id), None)
        if group is None:
            break
        siblings = group.setdefault("item", [])
    siblings.append({"linkId": link_id, "answer": [answer]})
    return copy


def parent_link_ids(questionnaire: dict[str, Any], link_id: str) -> tuple[str, ...]:
    """The linkIds of the groups enclosing an item, outermost first."""

    def search(items: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for item in items or []:
            if not isinstance(item, dict):
                continue
            if item.get("linkId") == link_id:
                return path
            found = search(item.get("item"), (*path, str(item.get("linkId"))))
            if found is not None:
                return found
        return None

    return search(questionnaire.get("item"), ()) or ()


def nest_answers(
    questionnaire: dict[str, Any], answers: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Response items shaped like the Questionnaire (groups kept) for the answered items."""

    def build(items: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in items or []:
            if not isinstance(item, dict):
                continue
            link_id = str(item.get("linkId"))
            if item.get("type") == "group":
                children = build(item.get("item"))
                if children:
                    out.append({"linkId": link_id, "item": children})
            elif link_id in answers:
                out.append({"linkId": link_id, "answer": answers[link_id]})
        return out

    return build(questionnaire.get("item"))
