"""``careloop content ...``: check, preview, import and approve the message library."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from careloop.cli.command import Drawn, Output, Shown, Work, in_transaction
from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import command_group, new_table, print_json, runtime
from careloop.content import approval, service
from careloop.content.checkin import load_instruments
from careloop.content.compose import RenderedMessage, render_message, render_variant
from careloop.content.library import VariantKey, load_library
from careloop.content.lint import lint_library, sample_fields
from careloop.content.vocab import Channel, ReadingLevel, Tone, parse_enum
from careloop.errors import InvalidInput

content_app = command_group("Message library: lint, preview, import, approve.")
stdout = Console()

LibraryOption = Annotated[
    Path | None,
    typer.Option("--library", help="A library folder (default: the shipped one)."),
]
LanguageOption = Annotated[str | None, typer.Option("--language", help="e.g. en, es.")]
LevelOption = Annotated[
    str | None, typer.Option("--reading-level", help="basic, standard or advanced.")
]
ToneOption = Annotated[str | None, typer.Option("--tone", help="friendly or formal.")]
ChannelOption = Annotated[
    str | None, typer.Option("--channel", help="sms, email, voice or portal.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who does this (recorded with the change).")]


def register(app: typer.Typer) -> None:
    """Attach ``careloop content`` to the root CLI."""
    app.add_typer(content_app, name="content")


@content_app.command("lint")
def lint_command(
    json_output: JsonOption = False,
    library_dir: LibraryOption = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "-d",
            help="Lint the approved versions in this database (site edits included) "
            "instead of the library files.",
        ),
    ] = None,
) -> None:
    """Check every variant: grade, SMS segments, rendering, completeness, sensitivity."""
    files = load_library(library_dir)
    if database is not None:
        with runtime(database) as rt, rt.transaction() as session:
            reports = lint_library(service.approved_library(session, samples=files.samples))
    else:
        reports = lint_library(files)
    failed = [r for r in reports if not r.ok]
    if json_output:
        print_json([r.as_json() for r in reports])
    elif not failed:
        stdout.print(f"content lint: all {len(reports)} variants ok", highlight=False)
    else:
        table = new_table(
            f"content lint: {len(reports) - len(failed)}/{len(reports)} ok",
            "message",
            "lang",
            "level",
            "tone",
            "channel",
            "grade",
            "seg",
            "problems",
        )
        for r in failed:
            table.add_row(
                r.message,
                r.language,
                r.reading_level,
                r.tone,
                r.channel,
                "" if r.grade is None else f"{r.grade:.1f}",
                "" if r.segments is None else str(r.segments),
                "; ".join(r.problems),
            )
        stdout.print(table)
    if failed:
        raise typer.Exit(1)


def _matches(
    key: VariantKey, language: str | None, level: str | None, tone: str | None, channel: str | None
) -> bool:
    return (
        (language is None or key.language == language)
        and (level is None or key.reading_level == level)
        and (tone is None or key.tone == tone)
        and (channel is None or key.channel == channel)
    )


@content_app.command("show")
def show_command(
    message: Annotated[str, typer.Argument(help="Message name, e.g. mammogram_due.")],
    language: LanguageOption = None,
    reading_level: LevelOption = None,
    tone: ToneOption = None,
    channel: ChannelOption = None,
    json_output: JsonOption = False,
    library_dir: LibraryOption = None,
) -> None:
    """Show a message's variants rendered with the sample fields."""
    library = load_library(library_dir)
    meta = library.message(message)
    shown: list[dict[str, Any]] = []
    for key in sorted(k for k in library.variants if k.message == message):
        if not _matches(key, language, reading_level, tone, channel):
            continue
        fields, locale, timezone = sample_fields(library, key.language)
        parts = render_variant(
            library.variants[key], fields=fields, locale=locale, timezone=timezone
        )
        shown.append({"variant": key.label(), "sensitivity": str(meta.sensitivity), **parts})
    if not shown:
        raise InvalidInput("no variant matches those options", field="message")
    if json_output:
        print_json(shown)
        return
    for item in shown:
        stdout.rule(item["variant"], style="dim")
        for name in ("subject", "text", "body"):
            if name in item:
                stdout.print(f"[bold]{name}:[/] {item[name]}", highlight=False, markup=True)


def _parse_fields(pairs: list[str]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput("--field takes NAME=VALUE", field="field")
        fields[name.strip()] = int(value) if value.isdigit() and name.startswith("days_") else value
    return fields


def _rendered_json(rendered: RenderedMessage) -> dict[str, Any]:
    return {
        "requested": rendered.requested.label(),
        "used": rendered.used.label(),
        "version_id": rendered.version_id,
        "content_hash": rendered.content_hash,
        "state": str(rendered.state),
        "fallbacks": list(rendered.fallbacks),
        "language_fallback": rendered.language_fallback,
        "minimum_necessary": rendered.minimum_necessary,
        "subject": rendered.subject,
        "body": rendered.body,
        "html": rendered.html,
        "segments": rendered.segments,
        "encoding": rendered.encoding,
    }


@content_app.command("render")
def render_command(
    message: Annotated[str, typer.Argument(help="Message name, e.g. mammogram_due.")],
    language: Annotated[str, typer.Option("--language", help="BCP-47, e.g. es-MX.")] = "en",
    reading_level: Annotated[str, typer.Option("--reading-level")] = "standard",
    tone: Annotated[str, typer.Option("--tone")] = "friendly",
    channel: Annotated[str, typer.Option("--channel")] = "sms",
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="NAME=VALUE, repeatable; defaults to the sample fields."),
    ] = None,
    locale: Annotated[str | None, typer.Option("--locale", help="e.g. es_US.")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA zone.")] = None,
    detailed_consent: Annotated[
        bool, typer.Option("--detailed-consent", help="The patient agreed to detailed messages.")
    ] = False,
    database: DatabaseOption = None,
    json_output: JsonOption = False,
    library_dir: LibraryOption = None,
) -> None:
    """Render one message as the engine would (with fallbacks and minimum necessary).

    With --database, only approved versions are used, exactly as for a send.
    """
    files = load_library(library_dir)
    sample, sample_locale, sample_zone = sample_fields(files, language.split("-")[0])
    fields = {**sample, **_parse_fields(field or [])}
    options: dict[str, Any] = {
        "message": message,
        "language": language,
        "reading_level": reading_level,
        "tone": tone,
        "channel": channel,
        "fields": fields,
        "locale": locale or sample_locale,
        "timezone": timezone or sample_zone,
        "detailed_consent": detailed_consent,
    }
    if database is not None:
        with runtime(database) as rt, rt.transaction() as session:
            rendered = service.render_for_sending(session, **options)
    else:
        rendered = render_message(files, **options)
    if json_output:
        print_json(_rendered_json(rendered))
        return
    stdout.rule(f"{rendered.used.label()} (asked {rendered.requested.label()})", style="dim")
    if rendered.fallbacks:
        stdout.print(f"fallbacks: {', '.join(rendered.fallbacks)}", highlight=False)
    if rendered.subject is not None:
        stdout.print(f"[bold]subject:[/] {rendered.subject}", highlight=False)
    stdout.print(rendered.body, highlight=False, markup=False)
    if rendered.segments is not None:
        stdout.print(f"({rendered.encoding}, {rendered.segments} segment(s))", highlight=False)


@content_app.command("sync")
@in_transaction()
def sync_command(work: Work, library_dir: LibraryOption = None) -> Output:
    """Import the library files as versions (idempotent); shipped content arrives approved."""
    library = load_library(library_dir)
    report = service.sync_library(work.session, library=library, clock=work.rt.clock)
    result = asdict(report)
    line = (
        f"{report.created} new versions ({report.approved} approved, {report.drafted} "
        f"drafts), {report.unchanged} unchanged"
    )
    return Drawn(result, lambda: stdout.print(line, highlight=False))


def _version_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "variant": approval.key_of(row).label(),
        "version": row.version,
        "state": row.state,
        "content_hash": row.content_hash,
        "source": row.source,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
        "retired_by": row.retired_by,
        "retired_at": row.retired_at.isoformat() if row.retired_at else None,
        "retired_reason": row.retired_reason,
        "parts": row.parts,
    }


@content_app.command("versions")
@in_transaction()
def versions_command(
    work: Work,
    message: Annotated[str, typer.Argument(help="Message name.")],
    language: LanguageOption = None,
    state: Annotated[str | None, typer.Option("--state", help="draft, approved, retired.")] = None,
) -> Output:
    """List the versions of a message's variants, newest first."""
    found = service.list_versions(work.session, message=message, language=language, state=state)
    rows = [_version_json(r) for r in found]
    return Drawn(rows, lambda: _print_versions(message, rows))


def _print_versions(message: str, rows: list[dict[str, Any]]) -> None:
    table = new_table(
        f"{message}: {len(rows)} versions",
        "id",
        "variant",
        "v",
        "state",
        "approved by",
        "created by",
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["variant"],
            str(r["version"]),
            r["state"],
            r["approved_by"] or "",
            r["created_by"],
        )
    stdout.print(table)


@content_app.command("draft")
@in_transaction()
def draft_command(
    work: Work,
    message: Annotated[str, typer.Argument(help="Message name.")],
    language: Annotated[str, typer.Option("--language")],
    reading_level: Annotated[str, typer.Option("--reading-level")],
    tone: Annotated[str, typer.Option("--tone")],
    channel: Annotated[str, typer.Option("--channel")],
    part: Annotated[list[str], typer.Option("--part", help="NAME=TEMPLATE, e.g. body=...")],
    by: ByOption,
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> Output:
    """Write a new draft version of one variant (it needs another clinician's approval)."""
    key = VariantKey(
        message,
        language,
        parse_enum(ReadingLevel, reading_level, field="reading_level"),
        parse_enum(Tone, tone, field="tone"),
        parse_enum(Channel, channel, field="channel"),
    )
    row = approval.create_draft(
        work.session,
        clock=work.rt.clock,
        message=service.get_message(work.session, message),
        key=key,
        parts=dict(p.partition("=")[::2] for p in part),
        actor=by,
        note=note,
    )
    return Shown(_version_json(row), f"draft version {row.id}")


VersionArg = Annotated[int, typer.Argument(help="Version id.")]


@content_app.command("approve")
@in_transaction()
def approve_command(work: Work, version_id: VersionArg, by: ByOption) -> Output:
    """Approve a draft (as a clinician other than its author)."""
    row = approval.approve(work.session, clock=work.rt.clock, version_id=version_id, actor=by)
    return Shown(_version_json(row), f"version {version_id} approved")


@content_app.command("retire")
@in_transaction()
def retire_command(
    work: Work,
    version_id: VersionArg,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why it may no longer be sent.")],
) -> Output:
    """Retire a version: it is never sent again."""
    row = approval.retire(
        work.session, clock=work.rt.clock, version_id=version_id, actor=by, reason=reason
    )
    return Shown(_version_json(row), f"version {version_id} retired")


@content_app.command("checkin-items")
def checkin_items_command(
    items_dir: Annotated[
        list[Path] | None,
        typer.Option("--items-dir", help="A site folder of licensed items (repeatable)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List check-in instruments: careloop's own and any a site loads from its folders."""
    instruments = load_instruments(extra_dirs=items_dir or [])
    rows = [
        {
            "instrument": i.id,
            "language": i.language,
            "title": i.title,
            "license": i.license,
            "source": i.source,
            "question": i.question,
            "scale": [{"value": o.value, "label": o.label} for o in i.scale],
            "items": [{"id": it.id, "text": it.text} for it in i.items],
        }
        for i in sorted(instruments.values(), key=lambda i: (i.id, i.language))
    ]
    if json_output:
        print_json(rows)
        return
    for row in rows:
        stdout.print(
            f"{row['instrument']} [{row['language']}] {len(row['items'])} items, "
            f"{row['source']} ({row['license']})",
            highlight=False,
        )
