"""Measure evaluation use cases: over FHIR files, or over the imported patient records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.criteria import Library
from careloop.programs.measures.definition import Measure, all_measures, find_measure
from careloop.programs.measures.evaluate import MeasureResult, evaluate_patient
from careloop.programs.measures.timing import parse_period

__all__ = [
    "MeasureResult",
    "all_measures",
    "evaluate_database",
    "evaluate_paths",
    "evaluate_population",
    "find_measure",
    "parse_period",
]


def evaluate_population(
    patients: Iterable[tuple[str, list[dict[str, Any]]]],
    *,
    measures: list[Measure] | tuple[Measure, ...],
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> Iterator[MeasureResult]:
    """Results for every patient and measure, patient by patient (streams; nothing retained).

    ``outreach=True`` drops the measures' qualifying-visit requirement: a care-gap program
    wants exactly the patients who had no visit in the period.
    """
    for _pid, resources in patients:
        yield from evaluate_patient(measures, resources, start=start, end=end, outreach=outreach)


def evaluate_paths(
    paths: Iterable[str | Path],
    *,
    measures: list[Measure] | tuple[Measure, ...],
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> list[MeasureResult]:
    """Evaluate FHIR Bundle/NDJSON files or folders (test bundles' MeasureReports ignored)."""
    return list(
        evaluate_population(
            read_patients(paths), measures=measures, start=start, end=end, outreach=outreach
        )
    )


# Types the measures read without a code filter (qualifying visits, payer).
ALWAYS_LOADED = ("Patient", "Encounter", "Coverage")


def retrieval_codes(measures: list[Measure] | tuple[Measure, ...]) -> frozenset[str]:
    """Every code a measure may retrieve by: value sets, direct codes, Python criteria's codes."""
    from careloop.programs.measures.custom import BP_PANELS, DIASTOLIC, SYSTOLIC

    codes: set[str] = {code for _, code in (*BP_PANELS, SYSTOLIC, DIASTOLIC)}
    for measure in measures:
        library: Library | None = measure.library
        while library is not None:
            for code_set in (*library.valuesets.values(), *library.codes.values()):
                codes.update(code for _, code in code_set)
            library = library.parent
    return frozenset(codes)


def evaluate_database(
    session: Session,
    *,
    measures: list[Measure] | tuple[Measure, ...],
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
    from careloop.records.service import load_patient_resources

    return evaluate_population(
        load_patient_resources(
            session,
            patient_ids=patient_ids,
            only_codes=retrieval_codes(measures),
            always_types=ALWAYS_LOADED,
        ),
        measures=measures,
        start=start,
        end=end,
        outreach=outreach,
    )
