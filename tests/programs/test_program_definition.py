"""Program files: the shipped ones validate; a bad file names the bad field; windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from careloop.cli import app
from careloop.errors import InvalidInput
from careloop.programs.definition import LIBRARY_DIR, find_program, load_programs, read_program
from careloop.programs.views import validate_program_file
from careloop.programs.windows import resolve_window

runner = CliRunner()
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SHIPPED = sorted(LIBRARY_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_programs_validate_against_the_message_library(path: Path) -> None:
    program = validate_program_file(path)

    assert program.name == path.stem


def test_the_eight_example_programs_ship() -> None:
    assert sorted(load_programs()) == [
        "annual-wellness-visit",
        "breast-cancer-screening",
        "colorectal-cancer-screening",
        "diabetes-control",
        "flu-shot-this-season",
        "hypertension-control",
        "oncology-symptom-checkin",
        "win-back-lapsed",
    ]


def _broken(tmp_path: Path, old: str, new: str, *, name: str = "diabetes-control") -> Path:
    text = (LIBRARY_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("holdout: 0.1", "holdout: 0.7", "holdout"),
        ("purpose: clinical-monitoring", "purpose: marketing", "purpose"),
        ("kind: lookback, months: 12", "kind: lookback", "period"),
        ("message: glucose_log_prompt}", "message: not_in_content}", "journey"),
        ("above: 9,", "above: 9, below: 3,", "eligibility.gaps.0.when"),
        ("valueset: Diabetes\n", "valueset: Diabetus\n", "eligibility.population"),
        ("{a1c.date}", "{a1c.day}", "eligibility.gaps.0.reason"),
        ("{since}", "{sinse}", "eligibility.gaps.1.reason"),
        ("relation: ends_during_day}", "relation: sometime}", "define.hba1c_tests_12_months"),
        ("title: Diabetes control", "titel: Diabetes control", "title"),
        ("holdout: 0.1", 'holdout: 0.1\nservices: [""]', "services"),
    ],
)
def test_a_bad_program_file_names_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        read_program(_broken(tmp_path, old, new))

    assert raised.value.field is not None
    assert raised.value.field.startswith(field)
    assert str(raised.value).startswith("diabetes-control.yaml:")


def test_a_measure_that_is_not_built_in_is_a_package_found_when_the_program_runs(
    tmp_path: Path,
) -> None:
    """Loaded packages live in the database; an unknown one fails when the program runs,
    naming the field (test_program_packages.py)."""
    path = _broken(tmp_path, "measure: CMS125", "measure: CMS999", name="breast-cancer-screening")

    program = read_program(path)

    assert (program.measure, program.package) == (None, "CMS999")
    assert program.load_codes is None


def test_unknown_message_id_fails_validation(tmp_path: Path) -> None:
    path = _broken(
        tmp_path, "[diabetes_a1c_due, glucose_log_prompt]", "[a1c_typo, glucose_log_prompt]"
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace("message: diabetes_a1c_due", "message: a1c_typo"),
        encoding="utf-8",
    )

    with pytest.raises(InvalidInput, match="unknown message ids \\['a1c_typo'\\]"):
        validate_program_file(path)


def test_cli_validate_gives_a_one_line_error(tmp_path: Path) -> None:
    bad = _broken(tmp_path, "holdout: 0.1", "holdout: 0.9")
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("name: [unclosed\n", encoding="utf-8")

    result = runner.invoke(app, ["programs", "validate", str(bad)])
    syntax = runner.invoke(app, ["programs", "validate", str(not_yaml)])

    assert result.exit_code == 2
    assert "holdout" in result.stderr
    assert "Traceback" not in result.stderr
    assert syntax.exit_code == 2
    assert "is not valid YAML" in syntax.stderr


def test_cli_list_and_show() -> None:
    listed = runner.invoke(app, ["programs", "list", "--json"])
    shown = runner.invoke(app, ["programs", "show", "flu-shot-this-season"])
    unknown = runner.invoke(app, ["programs", "show", "nope"])

    assert listed.exit_code == 0
    assert '"breast-cancer-screening"' in listed.stdout
    assert '"flu_shot_due"' in shown.stdout
    assert unknown.exit_code == 2
    assert "unknown program 'nope'" in unknown.stderr


@pytest.mark.parametrize(
    ("program", "kwargs", "window", "key"),
    [
        ("breast-cancer-screening", {"period": "2020-01-01/2020-12-31"},
         "2020-01-01/2020-12-31", "2020-01-01/2020-12-31"),
        ("breast-cancer-screening", {"as_of": date(2025, 5, 1)},
         "2025-01-01/2025-12-31", "2025-01-01/2025-12-31"),
        ("flu-shot-this-season", {"as_of": date(2026, 2, 10)},
         "2025-08-01/2026-02-10", "2025-08-01/2026-03-31"),
        ("diabetes-control", {"as_of": date(2025, 10, 1)},
         "2024-10-02/2025-10-01", "lookback:2025-10"),
        ("diabetes-control", {"period": "2020-01-01/2020-12-31"},
         "2020-01-01/2020-12-31", "lookback:2020-01-01/2020-12-31"),
    ],
)  # fmt: skip
def test_windows(program: str, kwargs: dict[str, object], window: str, key: str) -> None:
    found = resolve_window(find_program(program).definition.period, now=NOW, **kwargs)  # type: ignore[arg-type]

    assert (found.label, found.key) == (window, key)


def test_period_and_as_of_together_are_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        resolve_window(
            find_program("diabetes-control").definition.period,
            now=NOW, period="2020-01-01/2020-12-31", as_of=date(2020, 5, 1),
        )  # fmt: skip
    assert raised.value.field == "period"
