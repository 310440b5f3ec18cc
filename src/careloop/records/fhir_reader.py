"""Reading FHIR R4 input: Bundle JSON files (any type), single resources, and bulk NDJSON.

The reader only turns bytes into resource dicts and reports what it cannot read (file,
entry index, reason). Bundles have their ``urn:uuid:`` references rewritten to literal
``Type/id`` references; an entry whose ``urn:uuid:`` reference does not resolve is rejected.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from careloop.fielddicts import field_dict

BUNDLE_TYPES = {
    "transaction",
    "batch",
    "collection",
    "searchset",
    "transaction-response",
    "batch-response",
    "message",
    "document",
    "history",
}
JSON_SUFFIXES = {".json"}
NDJSON_SUFFIXES = {".ndjson", ".jsonl"}


@dataclass(frozen=True)
class Rejection:
    """A record that could not be used, and why (never its content: it may be PHI)."""

    file: str
    entry: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self)


@dataclass
class ReadResult:
    """The resources read from one unit of input (a file or a chunk of NDJSON lines)."""

    file: str
    resources: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def discover_files(paths: Iterable[Path]) -> tuple[list[Path], list[Rejection]]:
    """Expand folders into their FHIR files (sorted; Patient NDJSON first)."""
    found: list[Path] = []
    problems: list[Rejection] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and (p.suffix.lower() in JSON_SUFFIXES or is_ndjson(p))
            )
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Rejection(str(path), None, "no such file or folder"))
    # Bulk exports split by type: read patients before the resources that point at them.
    found.sort(key=lambda p: (0 if p.name.lower().startswith(("patient", "relatedperson")) else 1))
    return found, problems


def is_ndjson(path: Path) -> bool:
    """``.ndjson``/``.jsonl``, or either gzipped (Bulk Data files are often served so)."""
    name = path.name.lower().removesuffix(".gz")
    return any(name.endswith(suffix) for suffix in NDJSON_SUFFIXES)


def _check_resource(resource: Any) -> str | None:
    if not isinstance(resource, dict):
        return "resource is not a JSON object"
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return "resourceType is missing"
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not rid):
        return "id must be a non-empty string"
    return None


def _rewrite_references(node: Any, urls: dict[str, str], unresolved: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value.startswith("urn:"):
                target = urls.get(value)
                if target is None:
                    unresolved.append(value)
                else:
                    node[key] = target
            elif isinstance(value, dict | list):
                _rewrite_references(value, urls, unresolved)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _rewrite_references(item, urls, unresolved)


def _full_url_target(full_url: str, resource: dict[str, Any]) -> str | None:
    rid = resource.get("id")
    rtype = resource["resourceType"]
    if isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    if full_url.startswith("urn:uuid:"):
        resource["id"] = full_url[len("urn:uuid:") :]
        return f"{rtype}/{resource['id']}"
    return None


def read_bundle(document: Any, *, file: str, literal: bool = False) -> ReadResult:
    """Resources of a Bundle (or a single resource) with references made literal.

    ``literal``: the caller has already made every ``urn:`` reference literal (and none was
    left unresolved), so the entries need not be walked again.
    """
    return _read_bundle(document, file=file, literal=literal)[0]


def _read_bundle(document: Any, *, file: str, literal: bool) -> tuple[ReadResult, dict[str, str]]:
    """:func:`read_bundle`, and what each entry's ``fullUrl`` stands for (``Type/id``; empty
    unless ``document`` is a Bundle of a supported type with a list of entries)."""
    result = ReadResult(file=file)
    urls: dict[str, str] = {}
    if not isinstance(document, dict):
        result.rejected.append(Rejection(file, None, "top level is not a JSON object"))
        return result, urls
    if document.get("resourceType") != "Bundle":
        problem = _check_resource(document)
        if problem:
            result.rejected.append(Rejection(file, None, problem))
        else:
            result.resources.append((0, document))
        return result, urls
    btype = document.get("type")
    if btype not in BUNDLE_TYPES:
        result.rejected.append(Rejection(file, None, f"Bundle.type {btype!r} is not supported"))
        return result, urls
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        result.rejected.append(Rejection(file, None, "Bundle.entry is not a list"))
        return result, urls
    kept: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            if not (isinstance(entry, dict) and entry.get("request", {}).get("method") == "DELETE"):
                result.rejected.append(Rejection(file, index, "entry has no resource"))
            continue
        problem = _check_resource(resource)
        if problem:
            result.rejected.append(Rejection(file, index, problem))
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            target = _full_url_target(full_url, resource)
            if target:
                urls[full_url] = target
        kept.append((index, resource))
    for index, resource in kept:
        if "id" not in resource:
            result.rejected.append(Rejection(file, index, "id is missing and fullUrl gives none"))
            continue
        unresolved: list[str] = []
        if not literal:
            _rewrite_references(resource, urls, unresolved)
        if unresolved:
            result.rejected.append(
                Rejection(file, index, "reference does not resolve inside the bundle")
            )
            continue
        result.resources.append((index, resource))
    return result, urls


_URN_REFERENCE = re.compile(rb'"reference"\s*:\s*"urn:')
_PLAIN_URN_REFERENCE = re.compile(rb'"reference"\s*:\s*"(urn:[^"\\]*)"')


_ENTRY_HEAD = re.compile(
    rb'"fullUrl"\s*:\s*"(urn:[^"\\]*)"\s*,\s*"resource"\s*:\s*\{\s*'
    rb'"resourceType"\s*:\s*"([A-Za-z]+)"\s*,\s*"id"\s*:\s*"([^"\\]*)"'
)


def _entry_targets(document: Any) -> dict[str, str] | None:
    """What each entry's ``fullUrl`` stands for (``Type/id``), as :func:`read_bundle` reads
    it; None when ``document`` is not a Bundle with a list of entries."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return None
    entries = document.get("entry")
    if not isinstance(entries, list):
        return None
    urls: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if resource is None or _check_resource(resource) is not None:
            continue
        if isinstance(full_url, str) and full_url:
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                urls[full_url] = f"{resource['resourceType']}/{rid}"
            elif full_url.startswith("urn:uuid:"):
                urls[full_url] = f"{resource['resourceType']}/{full_url[len('urn:uuid:') :]}"
    return urls


def _urn_targets(raw: bytes, urls: dict[bytes, bytes], heads: int = -1) -> _Targets | None:
    """Each ``urn:`` reference of ``raw`` and its target in ``urls``, or None when one has
    an escape in it (not matched by the plain pattern) or does not resolve. ``raw`` comes
    back split around the plain references (odd places: their ``urn:``), for
    :func:`_rewrite`: one scan of the bytes serves both.

    ``heads``: how many entry heads (``_ENTRY_HEAD``) matched; when they and the plain
    references hold every ``"urn:`` of ``raw``, no other reference can be one (each match of
    the looser pattern holds one too), and the looser pattern's scan is spared."""
    pieces = _PLAIN_URN_REFERENCE.split(raw)
    found = pieces[1::2]
    if heads + len(found) != raw.count(b'"urn:') and len(found) != len(_URN_REFERENCE.findall(raw)):
        return None
    targets = {urn: urls.get(urn) for urn in found}
    if None in targets.values():
        return None
    return _Targets(targets, pieces)  # type: ignore[arg-type]


class _Targets(NamedTuple):
    targets: dict[bytes, bytes]
    pieces: list[bytes]


def _rewrite(found: _Targets) -> bytes:
    """The bytes with each plain ``urn:`` reference replaced by its literal target (what
    substituting each match of the plain pattern gives, without a call per match)."""
    replacements = {
        urn: b'"reference":' + orjson.dumps(t.decode()) for urn, t in found.targets.items()
    }
    pieces = found.pieces
    pieces[1::2] = [replacements[urn] for urn in pieces[1::2]]
    return b"".join(pieces)


def _parsed_once(raw: bytes, file: str) -> ReadResult | None:
    """The Bundle read with its ``urn:`` references made literal in one parse, or None
    (then it is parsed and rewritten as in :func:`_with_literal_references`).

    Each entry's target is guessed from the bytes (``fullUrl`` followed by ``resourceType``
    and ``id``, as writers such as Synthea lay entries out), the references are rewritten,
    and the bytes are parsed and read; the guess is then checked against what the read
    found each entry's ``fullUrl`` to stand for (not a reference, so the rewrite left it
    alone): any difference and the document is read the slow way. A second parse of every
    Bundle was a tenth of the import.
    """
    heads = _ENTRY_HEAD.findall(raw)
    guessed = {urn: rtype + b"/" + rid for urn, rtype, rid in heads}
    found = _urn_targets(raw, guessed, len(heads)) if guessed else None
    if not found or not found.targets:
        return None
    try:
        document = orjson.loads(_rewrite(found))
    except orjson.JSONDecodeError:
        return None
    result, urls = _read_bundle(document, file=file, literal=True)
    if any(urls.get(urn.decode()) != t.decode() for urn, t in found.targets.items()):
        return None
    return result


def _with_literal_references(raw: bytes, document: Any) -> Any | None:
    """The Bundle parsed again after its ``urn:`` references were rewritten in the bytes, or
    None when that would not equal walking each entry (then the entries are walked).

    Walking every element of every resource in Python was a fifth of a parser's time; the
    bytes are rewritten by one regular expression. In valid JSON an unescaped
    ``"reference":`` is always a key; a value with an escape in it, or one that does not
    resolve (its entry must be rejected by itself), sends the file down the walk instead.
    """
    urls = _entry_targets(document)
    if urls is None:
        return None
    found = _urn_targets(raw, {k.encode(): v.encode() for k, v in urls.items()})
    if found is None:
        return None
    if not found.targets:
        return document
    return orjson.loads(_rewrite(found))


def read_json_file(path: Path) -> ReadResult:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return ReadResult(
            file=str(path), rejected=[Rejection(str(path), None, exc.strerror or "unreadable")]
        )
    once = _parsed_once(raw, str(path))
    if once is not None:
        return once
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ReadResult(
            file=str(path),
            rejected=[Rejection(str(path), None, f"not valid JSON ({exc.msg} at char {exc.pos})")],
        )
    literal = _with_literal_references(raw, document)
    if literal is not None:
        return read_bundle(literal, file=str(path), literal=True)
    return read_bundle(document, file=str(path))


def read_ndjson_lines(lines: list[bytes], *, file: str, first_line: int) -> ReadResult:
    """Resources from NDJSON lines; ``entry`` in rejections is the 1-based line number."""
    result = ReadResult(file=file)
    for offset, raw in enumerate(lines):
        number = first_line + offset
        if not raw.strip():
            continue
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            result.rejected.append(Rejection(file, number, f"not valid JSON ({exc.msg})"))
            continue
        problem = _check_resource(resource)
        if problem is None and "id" not in resource:
            problem = "id is missing"
        if problem:
            result.rejected.append(Rejection(file, number, problem))
            continue
        result.resources.append((number, resource))
    return result


def iter_ndjson_chunks(path: Path, *, chunk_lines: int = 2000) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) chunks of an NDJSON file."""
    gzipped = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
        chunk: list[bytes] = []
        first = 1
        for number, line in enumerate(handle, start=1):
            if not chunk:
                first = number
            chunk.append(line)
            if len(chunk) >= chunk_lines:
                yield first, chunk
                chunk = []
        if chunk:
            yield first, chunk
