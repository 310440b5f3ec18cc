"""``careloop risk ...``: train and evaluate risk models from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from careloop.cli.options import JsonOption
from careloop.cli.support import command_group, new_table, print_json, stderr
from careloop.clock import SystemClock
from careloop.insights.risk.appointments_csv import AppointmentFile, read_appointments
from careloop.insights.risk.model import CALIBRATION_METHODS

# scikit-learn takes about a second to import: the commands that need it import it inside,
# so the rest of the CLI starts fast.

MAX_LISTED_BAD_ROWS = 20

risk_app = command_group("Risk models: no-show risk at booking time.")
train_app = command_group("Train a risk model and save it.")
evaluate_app = command_group("Measure a saved risk model on a file.")
risk_app.add_typer(train_app, name="train")
risk_app.add_typer(evaluate_app, name="evaluate")

CsvOption = Annotated[
    Path,
    typer.Option("--csv", help="Appointments in the 'Medical Appointment No Shows' CSV format."),
]
ModelsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        envvar="CARELOOP_MODELS_DIR",
        show_envvar=True,
        help="Where model artifacts are saved and loaded "
        "(default: models/ in the data directory, CARELOOP_DATA_DIR).",
    ),
]


def _models_dir(given: Path | None) -> Path:
    """The folder given, else the configured one (never the working directory)."""
    from careloop.settings import get_settings

    return given if given is not None else get_settings().resolved_models_dir()


ThreadsOption = Annotated[
    int,
    typer.Option(
        "--threads",
        min=1,
        help="CPU threads for gradient boosting (its OpenMP threads spin-wait: on a busy "
        "machine one thread is often faster).",
    ),
]
MinRatioOption = Annotated[
    float,
    typer.Option("--min-ratio", help="Flag a group whose rate is below this ratio to the best."),
]


def _skipped(parsed: AppointmentFile, *, name: str) -> dict[str, Any]:
    if parsed.bad_rows:
        first = "; ".join(f"line {b.line}: {b.reason}" for b in parsed.bad_rows[:3])
        stderr.print(
            f"[yellow]warning:[/] {name}: skipped {len(parsed.bad_rows)} bad rows ({first}"
            f"{'; ...' if len(parsed.bad_rows) > 3 else ''})",
            highlight=False,
            soft_wrap=True,
        )
    return {
        "skipped_rows": len(parsed.bad_rows),
        "skipped": [
            {"line": b.line, "reason": b.reason} for b in parsed.bad_rows[:MAX_LISTED_BAD_ROWS]
        ],
    }


def _print_summary(title: str, metrics: dict[str, Any]) -> None:
    table = new_table(title, "figure", "value", right=("value",))
    for key in ("n", "auc", "calibration_slope", "calibration_intercept", "brier"):
        value = metrics[key]
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    point = metrics["operating_point"]
    ppv = point["ppv"]
    table.add_row("flagged share", f"{point['flagged_share']:.3f}")
    table.add_row("PPV at operating point", "-" if ppv is None else f"{ppv:.3f}")
    for attribute in ("sex", "age_band"):
        flagged = metrics["fairness"][attribute]["flagged_groups"]
        table.add_row(f"fairness flags ({attribute})", ", ".join(flagged) or "none")
    Console().print(table)


@train_app.command("noshow")
def train_noshow_command(
    csv: CsvOption,
    models_dir: ModelsDirOption = None,
    test_days: Annotated[
        int, typer.Option("--test-days", help="Last N days of appointments held out.")
    ] = 7,
    calibration_days: Annotated[
        int, typer.Option("--calibration-days", help="N days before the test period calibrate.")
    ] = 7,
    calibration: Annotated[
        str, typer.Option("--calibration", help=f"One of {', '.join(CALIBRATION_METHODS)}.")
    ] = "sigmoid",
    top_share: Annotated[
        float, typer.Option("--top-share", help="Share of bookings flagged high-risk.")
    ] = 0.2,
    min_ratio: MinRatioOption = 0.8,
    threads: ThreadsOption = 1,
    json: JsonOption = False,
) -> None:
    """Train the no-show model on a time split, save it, print its test-period figures."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from careloop.insights.risk.artifacts import save_model
    from careloop.insights.risk.noshow import train_noshow

    parsed = read_appointments(csv)
    skipped = _skipped(parsed, name=csv.name)
    started = time.perf_counter()
    with threadpool_limits(limits=threads):
        model = train_noshow(
            parsed.appointments,
            test_days=test_days,
            calibration_days=calibration_days,
            calibration=calibration,
            top_share=top_share,
            min_ratio=min_ratio,
            trained_at=SystemClock().now(),
        )
    seconds = time.perf_counter() - started
    pickle_path, sidecar_path = save_model(model, directory=_models_dir(models_dir))
    sidecar = model.sidecar
    result = {
        **sidecar.metrics,
        "periods": {
            name: period.model_dump(mode="json")
            for name, period in (
                ("fit", sidecar.fit_period),
                ("calibration", sidecar.calibration_period),
                ("test", sidecar.test_period),
            )
        },
        "calibration_method": sidecar.calibration_method,
        "operating_rule": sidecar.operating_rule,
        "training_seconds": round(seconds, 2),
        "artifact": {"model": str(pickle_path), "sidecar": str(sidecar_path)},
        **skipped,
    }
    if json:
        print_json(result)
        return
    _print_summary(f"no-show model, test period {sidecar.test_period.start}..", result)
    typer.echo(f"saved {pickle_path} and {sidecar_path}")


@evaluate_app.command("noshow")
def evaluate_noshow_command(
    csv: CsvOption,
    models_dir: ModelsDirOption = None,
    history: Annotated[
        list[Path] | None,
        typer.Option(
            "--history",
            help="Earlier appointments (same format) whose outcomes were known at booking.",
        ),
    ] = None,
    min_ratio: MinRatioOption = 0.8,
    threads: ThreadsOption = 1,
    json: JsonOption = False,
) -> None:
    """Measure the saved no-show model on any file of appointments with known outcomes."""
    from threadpoolctl import threadpool_limits

    from careloop.insights.risk.artifacts import load_model
    from careloop.insights.risk.noshow import evaluate_noshow

    model = load_model(directory=_models_dir(models_dir))
    parsed = read_appointments(csv)
    skipped = _skipped(parsed, name=csv.name)
    earlier = []
    for path in history or []:
        past = read_appointments(path)
        _skipped(past, name=path.name)
        earlier.extend(past.appointments)
    with threadpool_limits(limits=threads):
        metrics = evaluate_noshow(model, parsed.appointments, history=earlier, min_ratio=min_ratio)
    result = {**metrics, "history_rows": len(earlier), **skipped}
    if json:
        print_json(result)
        return
    _print_summary(f"no-show model on {csv.name}", result)


def register(app: typer.Typer) -> None:
    """Attach ``careloop risk ...`` to the root CLI."""
    app.add_typer(risk_app, name="risk")
