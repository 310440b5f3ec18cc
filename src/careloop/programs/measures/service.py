"""Measure evaluation use cases: over FHIR files, or over the imported patient records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from careloop.errors import InvalidInput
from careloop.programs.elm.measure import ElmMeasure
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.custom import BP_PANELS, DIASTOLIC, SYSTOLIC
from careloop.programs.measures.definition import Measure, all_measures
from careloop.programs.measures.definition import find_measure as find_builtin
from careloop.programs.measures.evaluate import MeasureResult, evaluate_patient
from careloop.programs.measures.packaged import evaluate_packaged
from careloop.programs.measures.timing import parse_period
from careloop.records.projection import load_for_identification

AnyMeasure = Measure | ElmMeasure
ENGINES = ("auto", "definition", "elm")

__all__ = [
    "AnyMeasure",
    "MeasureResult",
    "all_measures",
    "evaluate_database",
    "evaluate_paths",
    "evaluate_population",
    "find_measure",
    "parse_period",
]


def _matches(measure: ElmMeasure, identifier: str) -> bool:
    wanted = identifier.strip().lower()
    if wanted.startswith("cms") and wanted.endswith("fhir"):
        wanted = wanted[: -len("fhir")]
    return wanted in (measure.cms_id.lower(), measure.name.lower())


def is_builtin(identifier: str) -> bool:
    try:
        find_builtin(identifier)
    except InvalidInput:
        return False
    return True


def find_measure(
    identifier: str,
    *,
    loaded: Iterable[ElmMeasure] = (),
    engine: str = "auto",
) -> AnyMeasure:
    """A measure by CMS id or name: the built-in definition, or a loaded package.

    ``engine="auto"`` prefers the built-in definition (it carries readable care-gap reasons
    and outreach mode) and falls back to a loaded package; ``"elm"`` insists on the package.
    """
    if engine not in ENGINES:
        raise InvalidInput(
            f"unknown engine {engine!r} (one of {', '.join(ENGINES)})", field="engine"
        )
    packages = [m for m in loaded if _matches(m, identifier)]
    if engine != "elm":
        try:
            return find_builtin(identifier)
        except InvalidInput:
            if engine == "definition" or not packages:
                known = [m.cms_id for m in all_measures()] + [m.cms_id for m in loaded]
                raise InvalidInput(
                    f"unknown measure {identifier!r} (known: {', '.join(known)})",
                    field="measure",
                ) from None
    if not packages:
        raise InvalidInput(
            f"measure {identifier!r} has no loaded package (careloop measure load PATH...)",
            field="measure",
        )
    return packages[-1]


def evaluate_population(
    patients: Iterable[tuple[str, list[dict[str, Any]]]],
    *,
    measures: list[AnyMeasure] | tuple[AnyMeasure, ...],
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> Iterator[MeasureResult]:
    """Results for every patient and measure, patient by patient (streams; nothing retained).

    ``outreach=True`` drops the measures' qualifying-visit requirement: a care-gap program
    wants exactly the patients who had no visit in the period.
    """
    builtin = [m for m in measures if isinstance(m, Measure)]
    for pid, resources in patients:
        results = iter(
            evaluate_patient(builtin, resources, start=start, end=end, outreach=outreach)
            if builtin
            else ()
        )
        for measure in measures:
            if isinstance(measure, Measure):
                yield next(results)
            else:
                yield evaluate_packaged(
                    measure, resources, patient_id=pid, start=start, end=end, outreach=outreach
                )


def evaluate_paths(
    paths: Iterable[str | Path],
    *,
    measures: list[AnyMeasure] | tuple[AnyMeasure, ...],
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> list[MeasureResult]:
    """Evaluate FHIR Bundle/NDJSON files or folders (test bundles' MeasureReports ignored).

    A result whose record was read with test-deck semantics (a bundle with one Patient is
    that patient's whole record, see ``bundles``) says so with ``"test_deck": true``.
    """
    deck: set[str] = set()
    results = list(
        evaluate_population(
            read_patients(paths, test_deck=deck),
            measures=measures,
            start=start,
            end=end,
            outreach=outreach,
        )
    )
    for result in results:
        if result["patient"] in deck:
            result["test_deck"] = True
    return results


# Types the measures read without a code filter (qualifying visits, payer).
ALWAYS_LOADED = ("Patient", "Encounter", "Coverage")


def retrieval_codes(measures: list[Measure] | tuple[Measure, ...]) -> frozenset[str]:
    """Every code a measure may retrieve by: value sets, direct codes, Python criteria's codes."""

    codes: set[str] = {code for _, code in (*BP_PANELS, SYSTOLIC, DIASTOLIC)}
    for measure in measures:
        codes.update(measure.library.all_codes())
    return frozenset(codes)


def evaluate_database(
    session: Session,
    *,
    measures: list[AnyMeasure] | tuple[AnyMeasure, ...],
    start: datetime,
    end: datetime,
    outreach: bool = False,
    patient_ids: list[str] | None = None,
) -> Iterator[MeasureResult]:
    """Evaluate the imported patient records, a batch of patients per query.

    Only resources the measures can look at are loaded: encounters, coverage, resource types
    the record does not index, and resources carrying a code of one of the measures' value
    sets or direct-reference codes. Decoding a whole lifetime of vital signs was most of the
    cost; the file path (``evaluate_paths``) and this one give the same answers (tested).
    """

    return evaluate_population(
        load_for_identification(
            session,
            patient_ids=patient_ids,
            only_codes=(
                retrieval_codes([m for m in measures if isinstance(m, Measure)])
                if all(isinstance(m, Measure) for m in measures)
                else None  # the published logic may read any resource
            ),
            always_types=ALWAYS_LOADED,
        ),
        measures=measures,
        start=start,
        end=end,
        outreach=outreach,
    )
