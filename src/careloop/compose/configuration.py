"""Every ``CARELOOP_*`` variable in one place: refused when unknown, documented from the models.

The settings models (:class:`careloop.settings.Settings` and the groups read on their own,
such as ``outreach``) are the only source: ``docs/configuration.md`` is rendered from them by
``tools/configuration_doc.py`` (checked by the tests), and every command refuses a
``CARELOOP_*`` variable no model reads, naming the nearest valid one, instead of silently
ignoring a misspelling.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import itertools
import textwrap
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from careloop.feedback.catalog import ENV_VAR as QUESTIONNAIRES_VAR
from careloop.outreach.config import OutreachSettings
from careloop.settings import ENV_PREFIX, ConfigurationError, Settings, Variable, setting_variables

# Groups read by their own domain (not part of Settings, which sits below them).
EXTRA_GROUPS: dict[str, type[BaseModel]] = {"outreach": OutreachSettings}

# Variables read directly, outside the settings models.
PLAIN_VARIABLES: dict[str, str] = {
    QUESTIONNAIRES_VAR: "Extra folders of check-in questionnaires (``os.pathsep``-separated).",
    "CARELOOP_PROGRAMS_DIR": "Folder of program definitions (`--programs-dir` of the CLI).",
    "CARELOOP_SEGMENTS_DIR": "Folder of segment definitions (`--segments-dir` of the CLI).",
    "CARELOOP_TEST_PG": "Tests only: the PostgreSQL server the test suite uses.",
    "CARELOOP_SCREENSHOTS": "Tests only: `1` makes the browser tests write docs/screenshots.",
}

# Documentation of fields whose models (owned by their domains) carry none, by variable.
FIELD_NOTES: dict[str, str] = {
    "CARELOOP_CHANNELS__SMS__ACCOUNT_SID": "Twilio account SID.",
    "CARELOOP_CHANNELS__SMS__AUTH_TOKEN": "Twilio auth token (also checks webhook signatures).",
    "CARELOOP_CHANNELS__SMS__TIMEOUT_SECONDS": "Timeout of one call to the gateway.",
    "CARELOOP_CHANNELS__SMS__PROVIDER": "`fake` records and sends nothing (the default).",
    "CARELOOP_CHANNELS__SMS__SENDERS": "Sending numbers: JSON list of "
    '`{"number", "type", "messages_per_second"}`.',
    "CARELOOP_CHANNELS__SMS__DEFAULT_SENDER": "Number used when nothing picks another.",
    "CARELOOP_CHANNELS__EMAIL__PROVIDER": "`fake` records and sends nothing (the default).",
    "CARELOOP_CHANNELS__EMAIL__HOST": "SMTP server.",
    "CARELOOP_CHANNELS__EMAIL__PORT": "SMTP port.",
    "CARELOOP_CHANNELS__EMAIL__STARTTLS": "Upgrade the connection with STARTTLS.",
    "CARELOOP_CHANNELS__EMAIL__USERNAME": "SMTP user.",
    "CARELOOP_CHANNELS__EMAIL__PASSWORD": "SMTP password.",
    "CARELOOP_CHANNELS__EMAIL__FROM_ADDRESS": "Sender address of every email.",
    "CARELOOP_CHANNELS__EMAIL__BOUNCE_ADDRESS": "Envelope sender that receives bounces.",
    "CARELOOP_CHANNELS__EMAIL__MESSAGE_ID_DOMAIN": "Domain of Message-IDs (replies match on it).",
    "CARELOOP_CHANNELS__EMAIL__CA_FILE": "CA bundle for a private SMTP server's certificate.",
    "CARELOOP_CHANNELS__EMAIL__TIMEOUT_SECONDS": "Timeout of one SMTP conversation.",
    "CARELOOP_CHANNELS__EMAIL__MESSAGES_PER_SECOND": "Pace of sends (default: unpaced).",
    "CARELOOP_CHANNELS__VOICE__PROVIDER": "`fake` records and calls nobody (the default).",
    "CARELOOP_CHANNELS__VOICE__ACCOUNT__ACCOUNT_SID": "Twilio account for calls (default: SMS's).",
    "CARELOOP_CHANNELS__VOICE__ACCOUNT__AUTH_TOKEN": "Its auth token.",
    "CARELOOP_CHANNELS__VOICE__ACCOUNT__TIMEOUT_SECONDS": "Timeout of one call to the gateway.",
    "CARELOOP_CHANNELS__VOICE__CALLER_ID": "Number calls come from (default: the SMS sender).",
    "CARELOOP_CHANNELS__VOICE__CALLS_PER_SECOND": "Pace of calls.",
    "CARELOOP_CHANNELS__VOICE__MACHINE_DETECTION": "Leave a voicemail-safe message on machines.",
    "CARELOOP_CHANNELS__PORTAL__PROVIDER": "`inbox`: portal messages wait in the database.",
    "CARELOOP_CHANNELS__LOOKUP__ACCOUNT__ACCOUNT_SID": "Twilio account for look-ups "
    "(default: SMS's).",
    "CARELOOP_CHANNELS__LOOKUP__ACCOUNT__TIMEOUT_SECONDS": "Timeout of one look-up.",
    "CARELOOP_CHANNELS__LOOKUP__TIMEOUT_SECONDS": "Timeout of one look-up.",
    "CARELOOP_OUTREACH__WORKER__BATCH": "Outbox rows claimed per batch.",
    "CARELOOP_OUTREACH__WORKER__LEASE_SECONDS": "A claimed row returns to the queue after this.",
    "CARELOOP_OUTREACH__WORKER__POLL_SECONDS": "Pause when nothing is due.",
    "CARELOOP_OUTREACH__WORKER__BACKOFF_BASE_SECONDS": "First retry delay after a transient error.",
    "CARELOOP_OUTREACH__WORKER__BACKOFF_CAP_SECONDS": "Longest retry delay.",
    "CARELOOP_OUTREACH__WORKER__MAX_ATTEMPTS": "Attempts before a message is dead.",
    "CARELOOP_OUTREACH__WORKER__SLOT_LEAD_MS": "How early a worker wakes before its send slot.",
    "CARELOOP_OUTREACH__SENDER_RATES": "Messages per second per sender key (JSON map).",
    "CARELOOP_OUTREACH__CLINIC_PHONE": "Phone number messages tell patients to call.",
    "CARELOOP_OUTREACH__CARE_TEAM_NAME": "How messages name the care team.",
    "CARELOOP_OUTREACH__BOOKING_LINK": "Link patients book an appointment at.",
    "CARELOOP_OUTREACH__PORTAL_LINK": "Link to the patient portal.",
    "CARELOOP_OUTREACH__BLOCKED_RETRY_HOURS": "A blocked step is retried after this long.",
}

GROUP_TITLES = {
    "": "General",
    "database": "Database",
    "records": "Patient records",
    "logging": "Logging",
    "web": "HTTP service",
    "channels": "Channels (SMS, email, voice, portal)",
    "security": "Security",
    "retention": "Retention",
    "jobs": "Periodic jobs",
    "outreach": "Outreach",
}


def all_variables() -> list[Variable]:
    """Every variable the settings models read, in model order."""
    found = list(setting_variables(Settings))
    for group, model in EXTRA_GROUPS.items():
        prefix = f"{ENV_PREFIX}{group.upper()}__"
        found.extend(setting_variables(model, prefix=prefix, path=(group,)))
    return found


def _valid_names() -> tuple[set[str], set[str], tuple[str, ...]]:
    variables = all_variables()
    exact = {v.name for v in variables} | set(PLAIN_VARIABLES)
    exact |= {f"{v.name}_FILE" for v in variables if v.secret}
    groups = {f"{ENV_PREFIX}{v.path[0].upper()}" for v in variables if len(v.path) > 1}
    exact |= groups  # a whole group as JSON
    open_prefixes = tuple(f"{v.name}__" for v in variables if v.open_below)
    return exact, groups, open_prefixes


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``CARELOOP_*`` names nothing reads, each with the nearest valid name (or None)."""
    exact, _groups, open_prefixes = _valid_names()
    unknown = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in exact or upper.startswith(open_prefixes):
            continue
        near = difflib.get_close_matches(upper, sorted(exact), n=1, cutoff=0.6)
        unknown.append((name, near[0] if near else None))
    return unknown


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise :class:`ConfigurationError` naming every unknown ``CARELOOP_*`` variable."""
    unknown = unknown_variables(environ)
    if not unknown:
        return
    parts = [f"{name} (did you mean {near}?)" if near else name for name, near in unknown]
    raise ConfigurationError("unknown setting " + "; ".join(parts) + ": see docs/configuration.md")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is None:
        name = getattr(annotation, "__name__", None) or str(annotation)
        return {
            "SecretStr": "secret",
            "str": "text",
            "int": "integer",
            "float": "number",
            "bool": "true/false",
            "Path": "path",
        }.get(name, name)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if str(origin) == "typing.Literal":
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (list, dict):
        return f"JSON {origin.__name__}"
    return " or ".join(_type_name(a) for a in args)


def _default(variable: Variable) -> str:
    default = variable.field.default
    if default is PydanticUndefined:
        factory = variable.field.default_factory
        default = factory() if factory is not None else None  # type: ignore[call-arg]
    if default is None or default == "":
        return "-"
    if isinstance(default, SecretStr):
        return "-"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


@lru_cache(maxsize=64)
def _attribute_docs(model: type) -> dict[str, str]:
    """The string literal under each field of ``model`` (and its bases): its documentation."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = after.value.value
    return docs


def _describe(variable: Variable) -> str:
    text = (
        variable.field.description
        or _attribute_docs(variable.owner).get(variable.path[-1])
        or FIELD_NOTES.get(variable.name, "")
    ).strip()
    if variable.secret:
        text = (text + " " if text else "") + f"Or `{variable.name}_FILE`: a file holding it."
    return " ".join(text.split()).replace("|", "\\|")


def render_reference() -> str:
    """docs/configuration.md, from the models."""
    lines = [
        "# Configuration",
        "",
        "<!-- generated by tools/configuration_doc.py from the settings models; do not edit -->",
        "",
        "careloop reads its settings from `CARELOOP_*` environment variables (or a `.env` file",
        "in the working directory). Groups nest with `__` (`CARELOOP_WEB__PORT=8080`); a whole",
        "group may also be given as JSON (`CARELOOP_JOBS='{\"escalations_minutes\": 5}'`), and",
        "lists and maps are JSON. Every secret may instead be given as `<NAME>_FILE`, the path",
        "of a file holding it, so it never sits in the environment. A `CARELOOP_*` variable",
        "that nothing reads stops every command with the nearest valid name: a misspelling is",
        "never silently ignored.",
        "",
    ]
    by_group: dict[str, list[Variable]] = {}
    for variable in all_variables():
        group = variable.path[0] if len(variable.path) > 1 else ""
        by_group.setdefault(group, []).append(variable)
    for group, variables in by_group.items():
        lines += [f"## {GROUP_TITLES.get(group, group)}", ""]
        lines += ["| variable | type | default | what |", "|---|---|---|---|"]
        lines += [
            f"| `{v.name}` | {_type_name(v.annotation)} | {_default(v)} | {_describe(v)} |"
            for v in variables
        ]
        lines.append("")
    lines += ["## Read outside the settings models", "", "| variable | what |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in PLAIN_VARIABLES.items()]
    lines.append("")
    return "\n".join(lines)


def secret_variable_names(variables: Iterable[Variable] | None = None) -> list[str]:
    """The secrets (each also accepted as ``<NAME>_FILE``)."""
    return [v.name for v in (variables or all_variables()) if v.secret]
