"""Python criteria: the parts of the measure logic the definition language cannot say.

Each factory takes the measure's ``Library`` (to resolve its named value sets, codes and
retrieve definitions once) and returns a predicate over a ``Context``. They cover "most recent
reading" logic, joins between two retrieves ("a screening within 14 days before a qualifying
visit") and CQL's null-sorting rules, each a few lines mirroring the named CQL definition.
Details that a care-gap reason needs are left in ``ctx.memo`` under ``detail:<name>``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from careloop.programs.measures.criteria import Context, Library, Predicate, PythonCriterion
from careloop.programs.measures.fields import effective, performed, prevalence
from careloop.programs.measures.record import Resource, codings, concept_in
from careloop.programs.measures.timing import BEGINNING, latest, period_interval, point

FOURTEEN_DAYS = timedelta(days=14)
TWO_DAYS = timedelta(days=2)
LOINC = "http://loinc.org"
SYSTOLIC = (LOINC, "8480-6")
DIASTOLIC = (LOINC, "8462-4")
# QI-Core observation-bp is the FHIR vital-signs BP panel (85354-9); Synthea writes 55284-4.
BP_PANELS = frozenset({(LOINC, "85354-9"), (LOINC, "55284-4")})
NON_OUTPATIENT_CLASSES = frozenset({"EMER", "IMP", "ACUTE", "NONAC", "PRENC", "SS"})
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
NOT_DONE_REASON = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason"


def _start_of_effective(resource: Resource, ctx: Context) -> datetime:
    interval = effective(resource, ctx.record.birth_date)
    return interval[0] if interval and interval[0] is not None else BEGINNING


def _last_by(resources: list[Resource], key: Any) -> Resource | None:
    """CQL ``Last(... sort by key)``: stable ascending sort, nulls first, take the last."""
    if not resources:
        return None
    return sorted(resources, key=key)[-1]


def _has_value(resource: Resource) -> bool:
    return any(key.startswith("value") for key in resource)


# ----- shared library -----------------------------------------------------------------------


def lives_in_nursing_home(lib: Library) -> Predicate:
    """AdvancedIllnessandFrailty: the last housing-status assessment says nursing home."""
    assessments = lib.retrieve("housing_status_assessments")
    nursing_home = lib.codeset("Lives in a nursing home (finding)")

    def key(resource: Resource, ctx: Context) -> datetime:
        interval = effective(resource, ctx.record.birth_date)
        return interval[1] if interval and interval[1] is not None else BEGINNING

    def check(ctx: Context) -> bool:
        last = _last_by(assessments(ctx), lambda r: key(r, ctx))
        return last is not None and concept_in(last.get("valueCodeableConcept"), nursing_home)

    return check


# ----- CMS138 tobacco -------------------------------------------------------------------------


def _most_recent_tobacco_screening_in(valueset_name: str) -> PythonCriterion:
    def factory(lib: Library) -> Predicate:
        screenings = lib.retrieve("tobacco_use_screenings")
        codes = lib.codeset(valueset_name)

        def check(ctx: Context) -> bool:
            last = _last_by(screenings(ctx), lambda r: _start_of_effective(r, ctx))
            return last is not None and concept_in(last.get("valueCodeableConcept"), codes)

        return check

    return factory


# ----- CMS2 depression screening --------------------------------------------------------------


def _encounter_windows(ctx: Context, lib: Library) -> list[tuple[datetime, datetime]]:
    windows = []
    for encounter in lib.retrieve("qualifying_encounter")(ctx):
        interval = period_interval(encounter.get("period"))
        if interval is not None and interval[0] is not None and interval[1] is not None:
            windows.append((interval[0], interval[1]))
    return windows


def _screenings(lib: Library, code_name: str) -> Any:
    """Final, resulted screenings ending 14 days or less on or before a qualifying visit."""
    codes = lib.codeset(code_name)

    def run(ctx: Context) -> list[Resource]:
        key = f"{lib.name}:screenings:{code_name}"
        if key in ctx.memo:
            cached: list[Resource] = ctx.memo[key]
            return cached
        windows = _encounter_windows(ctx, lib)
        found = []
        for obs in ctx.record.retrieve("Observation", codes):
            if obs.get("status") != "final" or not _has_value(obs):
                continue
            interval = effective(obs, ctx.record.birth_date)
            end = interval[1] if interval else None
            if end is None:
                continue
            if any(s.date() - FOURTEEN_DAYS <= end.date() <= s.date() for s, _e in windows):
                found.append(obs)
        ctx.memo[key] = found
        return found

    return run


def _most_recent_screening(lib: Library, code_name: str, ctx: Context) -> Resource | None:
    return _last_by(_screenings(lib, code_name)(ctx), lambda r: _start_of_effective(r, ctx))


def _screening_negative(code_name: str) -> PythonCriterion:
    def factory(lib: Library) -> Predicate:
        negative = lib.codeset("Depression screening negative (finding)")

        def check(ctx: Context) -> bool:
            last = _most_recent_screening(lib, code_name, ctx)
            return last is not None and concept_in(last.get("valueCodeableConcept"), negative)

        return check

    return factory


def _screening_positive_with_follow_up(code_name: str, follow_up_name: str) -> PythonCriterion:
    def factory(lib: Library) -> Predicate:
        positive = lib.codeset("Depression screening positive (finding)")
        follow_ups = lib.retrieve(follow_up_name)

        def check(ctx: Context) -> bool:
            last = _most_recent_screening(lib, code_name, ctx)
            if last is None or not concept_in(last.get("valueCodeableConcept"), positive):
                return False
            screened = _start_of_effective(last, ctx)
            windows = [
                (s, e)
                for s, e in _encounter_windows(ctx, lib)
                if s.date() - FOURTEEN_DAYS <= screened.date() <= s.date()
            ]
            for follow_up in follow_ups(ctx):
                done = performed(follow_up, ctx.record.birth_date)
                done_start = done[0] if done else None
                ordered = point(follow_up.get("authoredOn"))
                when = done_start or ordered
                if when is None or not ctx.start.date() <= when.date() <= ctx.end.date():
                    continue
                for start, end in windows:
                    if done_start is not None and start <= done_start <= end:
                        return True
                    if (
                        ordered is not None
                        and end.date() <= ordered.date() <= (end + TWO_DAYS).date()
                    ):
                        return True
            return False

        return check

    return factory


def bipolar_before_visit(lib: Library) -> Predicate:
    """A bipolar diagnosis (problem list or health concern) starting before a qualifying visit."""
    codes = lib.codeset("Bipolar Disorder")
    wanted = frozenset(
        {(CONDITION_CATEGORY, "problem-list-item"), (US_CORE_CONDITION_CATEGORY, "health-concern")}
    )

    def check(ctx: Context) -> bool:
        windows = _encounter_windows(ctx, lib)
        if not windows:
            return False
        for condition in ctx.record.retrieve("Condition", codes):
            if not concept_in(condition.get("category"), wanted):
                continue
            start = prevalence(condition, ctx.record.birth_date)[0]
            if start is not None and any(start < s for s, _e in windows):
                return True
        return False

    return check


def _reason_not_screened(code_name: str) -> PythonCriterion:
    def factory(lib: Library) -> Predicate:
        codes = lib.codeset(code_name)
        reasons = lib.codeset("Depression screening declined (situation)") | lib.codeset(
            "Medical Reason"
        )

        def check(ctx: Context) -> bool:
            windows = _encounter_windows(ctx, lib)
            for obs in ctx.record.retrieve("ObservationNotDone", codes):
                if obs.get("status") != "cancelled":
                    continue
                moment = point(obs.get("issued"))
                if moment is None or not any(s <= moment <= e for s, e in windows):
                    continue
                for ext in obs.get("extension", ()):
                    if ext.get("url") == NOT_DONE_REASON and concept_in(
                        ext.get("valueCodeableConcept"), reasons
                    ):
                        return True
            return False

        return check

    return factory


def _has_screening(code_name: str) -> PythonCriterion:
    def factory(lib: Library) -> Predicate:
        found = _screenings(lib, code_name)
        return lambda ctx: bool(found(ctx))

    return factory


# ----- CMS165 blood pressure ------------------------------------------------------------------


def _component_value(observation: Resource, code: tuple[str, str]) -> float | None:
    values = [
        c.get("valueQuantity", {}).get("value")
        for c in observation.get("component", ())
        if code in set(codings(c.get("code")))
    ]
    return float(values[0]) if len(values) == 1 and values[0] is not None else None


def _lowest(values: list[float | None]) -> float | None:
    """CQL ``First(... sort asc)``: a null sorts first, so one missing value wins."""
    if not values or any(v is None for v in values):
        return None
    return min(v for v in values if v is not None)


def blood_pressure_controlled(_lib: Library) -> Predicate:
    """Lowest systolic < 140 and lowest diastolic < 90 on the most recent outpatient BP day."""

    def is_bp(resource: Resource) -> bool:
        if any(pair in BP_PANELS for pair in codings(resource.get("code"))):
            return True
        profiles = (resource.get("meta") or {}).get("profile", ())
        return any(str(p).endswith("observation-bp") for p in profiles)

    def outpatient(resource: Resource, ctx: Context) -> bool:
        # CQL ``In`` over a list: a null element is in the list only if the list holds a
        # null, so for a reading with no encounter (or one not in the record)
        # ``not (getEncounter().class.code in {...})`` is true and the reading counts
        # (CQL 1.5 "In (List)"; the reference engine agrees, tests/programs/reference).
        reference = (resource.get("encounter") or {}).get("reference")
        if not reference:
            return True
        encounter = ctx.record.by_reference(reference)
        klass = ((encounter or {}).get("class") or {}).get("code")
        return klass not in NON_OUTPATIENT_CLASSES

    def check(ctx: Context) -> bool:
        readings: list[tuple[datetime, Resource]] = []
        for obs in ctx.record.of_type("Observation"):
            if obs.get("status") not in ("final", "amended", "corrected") or not is_bp(obs):
                continue
            moment = latest(effective(obs, ctx.record.birth_date))
            if moment is None or not ctx.start.date() <= moment.date() <= ctx.end.date():
                continue
            if outpatient(obs, ctx):
                readings.append((moment, obs))
        if not readings:
            ctx.memo["detail:blood_pressure"] = None
            return False
        last_day = max(moment.date() for moment, _obs in readings)
        on_day = [obs for moment, obs in readings if moment.date() == last_day]
        systolic = _lowest([_component_value(o, SYSTOLIC) for o in on_day])
        diastolic = _lowest([_component_value(o, DIASTOLIC) for o in on_day])
        ctx.memo["detail:blood_pressure"] = (last_day, systolic, diastolic)
        return systolic is not None and diastolic is not None and systolic < 140 and diastolic < 90

    return check


# ----- CMS122 glycemic status -----------------------------------------------------------------


def _quantity_percent(observation: Resource) -> float | None:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None
    return float(quantity["value"])


def glycemic_status_poor(lib: Library) -> Predicate:
    """Most recent HbA1c/GMI without a result, above 9 %, or none at all (inverse measure)."""
    assessments = lib.retrieve("glycemic_status_assessments")

    def check(ctx: Context) -> bool:
        found = assessments(ctx)
        dated = [(latest(effective(o, ctx.record.birth_date)), o) for o in found]
        dated = [(m, o) for m, o in dated if m is not None]
        if not dated:
            ctx.memo["detail:glycemic_status"] = None
            return True
        last_day = max(m.date() for m, _o in dated if m is not None)
        on_day = [o for m, o in dated if m is not None and m.date() == last_day]
        unresulted = [o for o in on_day if _quantity_percent(o) is None]
        lowest = (
            unresulted[0] if unresulted else min(on_day, key=lambda o: _quantity_percent(o) or 0.0)
        )
        value = _quantity_percent(lowest)
        ctx.memo["detail:glycemic_status"] = (last_day, value)
        if not _has_value(lowest):
            return True
        quantity = lowest.get("valueQuantity") or {}
        unit = quantity.get("code") or quantity.get("unit")
        return value is not None and unit == "%" and value > 9

    return check


PYTHON_CRITERIA: dict[str, PythonCriterion] = {
    "lives_in_nursing_home": lives_in_nursing_home,
    "most_recent_tobacco_screening_user": _most_recent_tobacco_screening_in("Tobacco User"),
    "most_recent_tobacco_screening_non_user": _most_recent_tobacco_screening_in("Tobacco Non User"),
    "adolescent_screening_negative": _screening_negative(
        "Adolescent depression screening assessment"
    ),
    "adult_screening_negative": _screening_negative("Adult depression screening assessment"),
    "adolescent_screening_positive_with_follow_up": _screening_positive_with_follow_up(
        "Adolescent depression screening assessment", "adolescent_follow_up"
    ),
    "adult_screening_positive_with_follow_up": _screening_positive_with_follow_up(
        "Adult depression screening assessment", "adult_follow_up"
    ),
    "has_adolescent_screening": _has_screening("Adolescent depression screening assessment"),
    "has_adult_screening": _has_screening("Adult depression screening assessment"),
    "reason_not_screening_adolescent": _reason_not_screened(
        "Adolescent depression screening assessment"
    ),
    "reason_not_screening_adult": _reason_not_screened("Adult depression screening assessment"),
    "bipolar_before_qualifying_encounter": bipolar_before_visit,
    "blood_pressure_controlled": blood_pressure_controlled,
    "glycemic_status_poor": glycemic_status_poor,
}
