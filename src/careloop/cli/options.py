"""The options every ``careloop`` command spells the same way: one definition each, so a
command's ``--database``, ``--json``, ``--by`` and ``--patient`` mean what they mean in all
the others."""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        envvar="CARELOOP_DATABASE_URL",
        help="Database URL (sqlite:///file.db or postgresql://...); a bare path means SQLite.",
        show_envvar=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who is acting (default: login name).")]
PatientOption = Annotated[str, typer.Option("--patient", help="The patient's id.")]
PatientArg = Annotated[str, typer.Argument(help="The careloop patient id.", show_default=False)]
