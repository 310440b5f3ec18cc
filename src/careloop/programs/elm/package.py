"""Read published measure packages: a Measure, its Library resources and ValueSet expansions.

A package is given as FHIR Bundles and/or folders of FHIR JSON files (one resource or one
Bundle per file), the way measure authoring tools and content repositories publish them. Each
Measure found becomes one ``MeasurePackage`` holding exactly the libraries it needs (its own
and everything they include, found by name) and the expansions of the value sets they name.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from careloop.errors import InvalidInput
from careloop.programs.elm.compiler import LibrarySource, valueset_key

Resource = dict[str, Any]
ELM_JSON = "application/elm+json"
SHORT_NAME = "short-name"


@dataclass(frozen=True, slots=True)
class MeasurePackage:
    measure: Resource
    libraries: dict[str, LibrarySource]
    expansions: dict[str, frozenset[tuple[str, str]]]
    valueset_urls: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.measure.get("name") or self.measure.get("id"))

    @property
    def version(self) -> str | None:
        return self.measure.get("version")

    @property
    def cms_id(self) -> str | None:
        return cms_id_of(self.measure)

    @property
    def main_library(self) -> str:
        refs = self.measure.get("library") or []
        if not refs:
            raise InvalidInput(f"Measure {self.name} names no library", field="package")
        return library_name(str(refs[0]))


def cms_id_of(measure: Resource) -> str | None:
    """``CMS131FHIR`` (the short-name identifier) -> ``CMS131``; None when there is none."""
    for identifier in measure.get("identifier") or []:
        value = str(identifier.get("value") or "")
        codes = {c.get("code") for c in (identifier.get("type") or {}).get("coding") or []}
        if SHORT_NAME in codes or value.upper().startswith("CMS"):
            value = value.upper().removesuffix("FHIR")
            if value.startswith("CMS") and value[3:].isdigit():
                return value
    return None


def library_name(reference: str) -> str:
    """A Library canonical (``https://madie.cms.gov/Library/X|1.0``) or include path -> ``X``."""
    return reference.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or folder: {path}", field="path")


def _resources(path: Path) -> Iterator[Resource]:
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="path") from None
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{path} is not valid JSON", field="path") from None
    if not isinstance(document, dict) or "resourceType" not in document:
        raise InvalidInput(f"{path} is not a FHIR resource or Bundle", field="path")
    if document["resourceType"] == "Bundle":
        for entry in document.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                yield resource
    else:
        yield document


def _content(library: Resource, content_type: str) -> bytes | None:
    for item in library.get("content") or []:
        if item.get("contentType") == content_type and item.get("data"):
            try:
                return base64.b64decode(item["data"], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(
                    f"Library {library.get('name')}: {content_type} content is not base64",
                    field="package",
                ) from None
    return None


def library_source(library: Resource) -> LibrarySource | None:
    """The ELM of a Library resource; None for a Library without ELM JSON (e.g. model info)."""
    raw = _content(library, ELM_JSON)
    if raw is None:
        return None
    try:
        elm = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(
            f"Library {library.get('name')}: ELM JSON is not valid JSON", field="package"
        ) from None
    identifier = (elm.get("library") or {}).get("identifier") or {}
    name = str(identifier.get("id") or library.get("name"))
    cql = _content(library, "text/cql")
    return LibrarySource(
        name=name,
        version=identifier.get("version") or library.get("version"),
        elm=elm,
        cql=cql.decode("utf-8", "replace") if cql is not None else None,
        url=library.get("url"),
    )


def _contains(items: list[Resource], into: set[tuple[str, str]]) -> None:
    for item in items:
        if item.get("system") and item.get("code"):
            into.add((str(item["system"]), str(item["code"])))
        _contains(item.get("contains") or [], into)


def expansion_codes(valueset: Resource) -> frozenset[tuple[str, str]] | None:
    """The codes of a ValueSet: its expansion, or an enumerated compose; None if neither."""
    codes: set[tuple[str, str]] = set()
    expansion = valueset.get("expansion")
    if isinstance(expansion, dict):
        _contains(expansion.get("contains") or [], codes)
        return frozenset(codes)
    includes = (valueset.get("compose") or {}).get("include") or []
    if includes and all(i.get("concept") and not i.get("filter") for i in includes):
        for include in includes:
            for concept in include["concept"]:
                codes.add((str(include["system"]), str(concept["code"])))
        return frozenset(codes)
    return None


def _includes(source: LibrarySource) -> list[str]:
    block = source.elm.get("library", {}).get("includes") or {}
    return [library_name(str(i["path"])) for i in block.get("def") or []]


def _valuesets(source: LibrarySource) -> list[str]:
    block = source.elm.get("library", {}).get("valueSets") or {}
    return [str(v["id"]) for v in block.get("def") or []]


def read_packages(paths: Iterable[str | Path]) -> list[MeasurePackage]:
    """Every Measure in the files, each with the libraries and expansions it needs."""
    measures: list[Resource] = []
    libraries: dict[str, LibrarySource] = {}
    expansions: dict[str, frozenset[tuple[str, str]]] = {}
    urls: dict[str, str] = {}
    for path in _files(Path(p) for p in paths):
        for resource in _resources(path):
            kind = resource.get("resourceType")
            if kind == "Measure":
                measures.append(resource)
            elif kind == "Library":
                source = library_source(resource)
                if source is not None:
                    libraries[source.name] = source
            elif kind == "ValueSet" and resource.get("url"):
                codes = expansion_codes(resource)
                if codes is not None:
                    key = valueset_key(str(resource["url"]))
                    expansions[key] = codes
                    urls[key] = str(resource["url"])
    if not measures:
        raise InvalidInput("no Measure resource in the given files", field="path")
    return [_package(measure, libraries, expansions, urls) for measure in measures]


def _package(
    measure: Resource,
    libraries: dict[str, LibrarySource],
    expansions: dict[str, frozenset[tuple[str, str]]],
    urls: dict[str, str],
) -> MeasurePackage:
    name = str(measure.get("name") or measure.get("id"))
    refs = measure.get("library") or []
    if not refs:
        raise InvalidInput(f"Measure {name} names no library", field="package")
    needed: dict[str, LibrarySource] = {}
    pending = [library_name(str(refs[0]))]
    while pending:
        wanted = pending.pop()
        if wanted in needed:
            continue
        source = libraries.get(wanted)
        if source is None:
            raise InvalidInput(
                f"Measure {name}: library {wanted} (ELM JSON) is not in the package",
                field="package",
            )
        needed[wanted] = source
        pending.extend(_includes(source))
    wanted_sets = {valueset_key(url) for s in needed.values() for url in _valuesets(s)}
    missing = sorted(k for k in wanted_sets if k not in expansions)
    if missing:
        raise InvalidInput(
            f"Measure {name}: no expansion for value set(s) {', '.join(missing)}",
            field="package",
        )
    return MeasurePackage(
        measure=measure,
        libraries=needed,
        expansions={k: expansions[k] for k in wanted_sets},
        valueset_urls={k: urls[k] for k in wanted_sets},
    )
