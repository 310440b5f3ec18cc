"""Published measure packages in the database: load (store) them and find them again.

``load_packages`` reads the files, compiles every Measure found (so a package the ELM engine
cannot run is refused before anything is written), then stores the Measure, its libraries
and its value-set expansions. ``loaded_measures`` compiles what is stored, once per process
and package version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import InvalidInput
from careloop.fielddicts import field_dict
from careloop.models.measures import MeasureLibraryRow, MeasurePackageRow, MeasureValueSetRow
from careloop.programs.elm.compiler import ElmUnsupported, LibrarySource
from careloop.programs.elm.measure import ElmMeasure
from careloop.programs.elm.package import MeasurePackage, read_packages

_Row = TypeVar("_Row", MeasureLibraryRow, MeasurePackageRow, MeasureValueSetRow)

_COMPILED: dict[tuple[str, str, datetime], ElmMeasure] = {}


@dataclass(frozen=True, slots=True)
class LoadedPackage:
    cms_id: str | None
    name: str
    version: str | None
    title: str
    groups: int
    population_basis: list[str]
    libraries: list[str]
    valuesets: int

    def as_dict(self) -> dict[str, Any]:
        """A loaded package as JSON: every field, in field order."""
        return field_dict(self)


def compile_package(package: MeasurePackage) -> ElmMeasure:
    """The package compiled for evaluation; unsupported ELM is a clear input error."""
    try:
        return ElmMeasure(package)
    except ElmUnsupported as exc:
        raise InvalidInput(f"{package.name}: {exc}", field="package") from None


def read_and_compile(paths: Iterable[str | Path]) -> list[ElmMeasure]:
    """Compile the measure packages in files without storing them (tests, one-off runs)."""
    return [compile_package(p) for p in read_packages(paths)]


def _summary(measure: ElmMeasure) -> LoadedPackage:
    package = measure.package
    return LoadedPackage(
        cms_id=package.cms_id,
        name=package.name,
        version=package.version,
        title=measure.title,
        groups=len(measure.groups),
        population_basis=["boolean" if g.boolean_basis else "episode" for g in measure.groups],
        libraries=sorted(package.libraries),
        valuesets=len(package.expansions),
    )


def _row_for(session: Session, model: type[_Row], **key: str) -> _Row:
    """The row of ``model`` with this key, added (with the key set) when there is none yet."""
    row = session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**key)
        session.add(row)
    return row


def _store_library(session: Session, source: LibrarySource) -> None:
    row = _row_for(session, MeasureLibraryRow, name=source.name, version=source.version or "")
    row.url = source.url
    row.elm = source.elm
    row.cql = source.cql


def _store_valueset(session: Session, key: str, url: str, codes: frozenset[Any]) -> None:
    row = _row_for(session, MeasureValueSetRow, key=key)
    row.url = url
    row.codes = sorted([system, code] for system, code in codes)


def load_packages(
    session: Session, paths: Iterable[str | Path], *, now: datetime
) -> list[LoadedPackage]:
    """Store every measure package in the files (replacing the same name and version)."""
    measures = read_and_compile(paths)
    for measure in measures:
        package = measure.package
        for source in package.libraries.values():
            _store_library(session, source)
        for key, codes in package.expansions.items():
            _store_valueset(session, key, package.valueset_urls[key], codes)
        row = _row_for(session, MeasurePackageRow, name=package.name, version=package.version or "")
        row.cms_id = package.cms_id
        row.title = measure.title
        row.measure = package.measure
        row.libraries = [[s.name, s.version or ""] for s in package.libraries.values()]
        row.valuesets = sorted(package.expansions)
        row.loaded_at = now
    session.flush()
    return [_summary(m) for m in measures]


def _package_of(session: Session, row: MeasurePackageRow) -> MeasurePackage:
    libraries: dict[str, LibrarySource] = {}
    for name, version in row.libraries:
        lib = session.scalar(
            select(MeasureLibraryRow).where(
                MeasureLibraryRow.name == name, MeasureLibraryRow.version == version
            )
        )
        if lib is None:
            raise InvalidInput(f"{row.name}: stored library {name} is missing", field="measure")
        libraries[name] = LibrarySource(
            name=name, version=version or None, elm=lib.elm, cql=lib.cql, url=lib.url
        )
    expansions: dict[str, frozenset[tuple[str, str]]] = {}
    urls: dict[str, str] = {}
    for vs in session.scalars(
        select(MeasureValueSetRow).where(MeasureValueSetRow.key.in_(row.valuesets))
    ):
        expansions[vs.key] = frozenset((str(s), str(c)) for s, c in vs.codes)
        urls[vs.key] = vs.url
    return MeasurePackage(
        measure=row.measure, libraries=libraries, expansions=expansions, valueset_urls=urls
    )


def loaded_measures(session: Session) -> list[ElmMeasure]:
    """Every stored package, compiled (cached per process by name, version and load time)."""
    measures = []
    for row in session.scalars(select(MeasurePackageRow).order_by(MeasurePackageRow.id)):
        key = (row.name, row.version, row.loaded_at)
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = compile_package(_package_of(session, row))
            _COMPILED[key] = compiled
        measures.append(compiled)
    return measures
