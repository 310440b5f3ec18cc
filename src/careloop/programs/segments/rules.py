"""The segment vocabulary: a small set of words over the record and the event log.

A rule is a mapping with one key (combine with ``all``/``any``/``not``):

demographic
  ``age: {min: 65, max: 74}``           whole years at "now"
  ``sex: female`` or ``sex: [female, other]``  (Patient.gender)
  ``language: [es, pt]``                preferred language, primary subtag (``es-MX`` is ``es``)
behavioural
  ``missed_appointments: {min: 2, within_days: 365}``  Appointments with status ``noshow``
  ``responses: {within_days: 180, min_sent: 3, reply_rate_below: 0.2}``  (or
  ``reply_rate_at_least``) — ``replied`` events over ``sent`` events in the event log
needs
  ``condition: {valueset: <url or id>, codes: [SYSTEM|code]}``  an active Condition
  ``answer: {question: SYSTEM|code, answers: {valueset|codes}, within_days: 365}`` the most
  recent answer to a screening question (e.g. transportation, LOINC 93030-5) is one of these
  ``caregiver: true``                   a caregiver (RelatedPerson) is on record
psychographic
  ``motivation: [family, independence]``  what the latest motivation check-in (a
  QuestionnaireResponse) says matters most: independence, family, avoiding-problems, convenience

Unknown words, bad numbers and unknown value sets fail when the file is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from careloop.errors import InvalidInput
from careloop.fhirdata.patients import preferred_communication
from careloop.programs.measures.fields import effective, prevalence
from careloop.programs.measures.record import PatientRecord, Resource, codings, concept_in
from careloop.programs.measures.timing import age_in_years, latest, point
from careloop.programs.measures.valuesets import CodeSet
from careloop.programs.motivation import MOTIVATIONS, latest_motivation
from careloop.programs.valuesets import SYSTEMS, parse_codes, program_valueset


@dataclass(slots=True)
class Facts:
    """What segment rules look at for one patient."""

    record: PatientRecord
    now: datetime
    events: list[tuple[str, datetime]] = field(default_factory=list)  # (kind, occurred_at)


Rule = Callable[[Facts], bool]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    test: Rule
    codes: frozenset[str]  # codes the rule retrieves by (to load only those resources)
    event_days: int  # how far back the rule reads the event log (0 = not at all)
    types: frozenset[str] = frozenset()  # uncoded resource types the rule reads whole


def _codeset(spec: Any, where: str) -> CodeSet:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where} needs valueset and/or codes", field=where)
    codes: set[tuple[str, str]] = set()
    if "valueset" in spec:
        codes |= program_valueset(str(spec["valueset"]))
    if "codes" in spec:
        codes |= parse_codes(list(spec["codes"]), systems=SYSTEMS, field=where)
    if not codes:
        raise InvalidInput(f"{where} needs valueset and/or codes", field=where)
    return frozenset(codes)


def _number(spec: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}.{key} must be a number", field=f"{where}.{key}")
    return float(value)


def _primary_language(patient: Resource) -> str | None:
    # Only codings that name a system count here, as everywhere in the measure engine.
    for _, code in codings((preferred_communication(patient) or {}).get("language")):
        return code.split("-", 1)[0].lower()
    return None


def _active(condition: Resource, facts: Facts) -> bool:
    start, end = prevalence(condition, facts.record.birth_date)
    if start is not None and start > facts.now:
        return False
    return end is not None and end >= facts.now


def compile_rule(node: Any, where: str = "rule") -> CompiledRule:
    """Compile one rule mapping into a test over :class:`Facts`."""
    if not isinstance(node, dict) or len(node) != 1:
        raise InvalidInput(f"{where}: a rule is a mapping with one key", field=where)
    ((word, spec),) = node.items()
    if word in ("all", "any"):
        if not isinstance(spec, list) or not spec:
            raise InvalidInput(f"{where}.{word} needs a non-empty list", field=where)
        parts = [compile_rule(item, f"{where}.{word}.{i}") for i, item in enumerate(spec)]
        tests = [p.test for p in parts]
        test: Rule = (
            (lambda f: all(t(f) for t in tests))
            if word == "all"
            else (lambda f: any(t(f) for t in tests))
        )
        return CompiledRule(
            test,
            frozenset().union(*(p.codes for p in parts)),
            max(p.event_days for p in parts),
            frozenset().union(*(p.types for p in parts)),
        )
    if word == "not":
        inner = compile_rule(spec, f"{where}.not")
        return CompiledRule(lambda f: not inner.test(f), inner.codes, inner.event_days, inner.types)
    builder = _WORDS.get(word)
    if builder is None:
        raise InvalidInput(
            f"{where}: unknown word {word!r} (known: all, any, not, {', '.join(sorted(_WORDS))})",
            field=where,
        )
    return builder(spec, f"{where}.{word}")


def _age(spec: Any, where: str) -> CompiledRule:
    if not isinstance(spec, dict) or not ({"min", "max"} & set(spec)):
        raise InvalidInput(f"{where} needs min and/or max", field=where)
    low = _number(spec, "min", where) if "min" in spec else None
    high = _number(spec, "max", where) if "max" in spec else None

    def test(facts: Facts) -> bool:
        birth = facts.record.birth_date
        if birth is None:
            return False
        age = age_in_years(birth, facts.now.date())
        return (low is None or age >= low) and (high is None or age <= high)

    return CompiledRule(test, frozenset(), 0)


def _sex(spec: Any, where: str) -> CompiledRule:
    wanted = frozenset(str(s) for s in (spec if isinstance(spec, list) else [spec]))
    unknown = wanted - {"female", "male", "other", "unknown"}
    if unknown:
        raise InvalidInput(f"{where}: unknown sex {sorted(unknown)}", field=where)
    return CompiledRule(lambda f: f.record.gender in wanted, frozenset(), 0)


def _language(spec: Any, where: str) -> CompiledRule:
    wanted = frozenset(str(s).lower() for s in (spec if isinstance(spec, list) else [spec]))
    if not wanted:
        raise InvalidInput(f"{where} needs at least one language", field=where)
    return CompiledRule(lambda f: _primary_language(f.record.patient) in wanted, frozenset(), 0)


def _missed_appointments(spec: Any, where: str) -> CompiledRule:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where} needs min and within_days", field=where)
    minimum = int(_number(spec, "min", where, 1))
    days = timedelta(days=_number(spec, "within_days", where, 365))

    def test(facts: Facts) -> bool:
        since = facts.now - days
        missed = 0
        for appointment in facts.record.of_type("Appointment"):
            if appointment.get("status") != "noshow":
                continue
            start = point(appointment.get("start"))
            if start is not None and since <= start <= facts.now:
                missed += 1
        return missed >= minimum

    return CompiledRule(test, frozenset(), 0)


def _responses(spec: Any, where: str) -> CompiledRule:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where} needs a mapping", field=where)
    days = int(_number(spec, "within_days", where, 180))
    min_sent = int(_number(spec, "min_sent", where, 1))
    below = _number(spec, "reply_rate_below", where) if "reply_rate_below" in spec else None
    at_least = (
        _number(spec, "reply_rate_at_least", where) if "reply_rate_at_least" in spec else None
    )
    if (below is None) == (at_least is None):
        raise InvalidInput(
            f"{where} needs one of reply_rate_below, reply_rate_at_least", field=where
        )

    def test(facts: Facts) -> bool:
        since = facts.now - timedelta(days=days)
        sent = replied = 0
        for kind, when in facts.events:
            if since <= when <= facts.now:
                sent += kind == "sent"
                replied += kind == "replied"
        if sent < min_sent:
            return False
        rate = replied / sent
        return rate < below if below is not None else rate >= (at_least or 0.0)

    return CompiledRule(test, frozenset(), days)


def _condition(spec: Any, where: str) -> CompiledRule:
    codes = _codeset(spec, where)

    def test(facts: Facts) -> bool:
        return any(_active(c, facts) for c in facts.record.retrieve("Condition", codes))

    return CompiledRule(test, frozenset(code for _, code in codes), 0)


def _answer(spec: Any, where: str) -> CompiledRule:
    if not isinstance(spec, dict) or "question" not in spec or "answers" not in spec:
        raise InvalidInput(f"{where} needs question and answers", field=where)
    question = parse_codes([str(spec["question"])], systems=SYSTEMS, field=f"{where}.question")
    answers = _codeset(spec["answers"], f"{where}.answers")
    days = timedelta(days=_number(spec, "within_days", where, 365))

    def test(facts: Facts) -> bool:
        since = facts.now - days
        dated = []
        for observation in facts.record.retrieve("Observation", question):
            moment = latest(effective(observation, facts.record.birth_date))
            if moment is not None and since <= moment <= facts.now:
                dated.append((moment, observation))
        if not dated:
            return False
        last = max(dated, key=lambda pair: pair[0])[1]
        return concept_in(last.get("valueCodeableConcept"), answers)

    codes = frozenset(code for _, code in question | answers)
    return CompiledRule(test, codes, 0)


def _caregiver(spec: Any, where: str) -> CompiledRule:
    if not isinstance(spec, bool):
        raise InvalidInput(f"{where} must be true or false", field=where)

    def test(facts: Facts) -> bool:
        present = any(r.get("active", True) for r in facts.record.of_type("RelatedPerson"))
        return present is spec

    return CompiledRule(test, frozenset(), 0)


def _motivation(spec: Any, where: str) -> CompiledRule:
    wanted = frozenset(str(s) for s in (spec if isinstance(spec, list) else [spec]))
    unknown = wanted - set(MOTIVATIONS)
    if not wanted or unknown:
        raise InvalidInput(
            f"{where}: motivations are {', '.join(MOTIVATIONS)} (got {sorted(unknown)})",
            field=where,
        )

    def test(facts: Facts) -> bool:
        responses = facts.record.of_type("QuestionnaireResponse")
        return latest_motivation(responses, now=facts.now) in wanted

    return CompiledRule(test, frozenset(), 0, frozenset({"QuestionnaireResponse"}))


_WORDS: dict[str, Callable[[Any, str], CompiledRule]] = {
    "age": _age,
    "sex": _sex,
    "language": _language,
    "missed_appointments": _missed_appointments,
    "responses": _responses,
    "condition": _condition,
    "answer": _answer,
    "caregiver": _caregiver,
    "motivation": _motivation,
}
