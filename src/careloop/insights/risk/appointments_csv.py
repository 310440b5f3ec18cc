"""Read appointment files in the "Medical Appointment No Shows" CSV format.

Real files have bad rows (unparseable dates, bookings after the appointment day). They are
reported by line number and skipped, never guessed at; messages name the line and the column,
never a value, so no patient data reaches the terminal or a log.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from careloop.errors import InvalidInput

REQUIRED_COLUMNS: tuple[str, ...] = (
    "PatientId",
    "AppointmentID",
    "Gender",
    "ScheduledDay",
    "AppointmentDay",
    "Age",
    "Neighbourhood",
    "Scholarship",
    "Hipertension",
    "Diabetes",
    "Alcoholism",
    "Handcap",
    "No-show",
)
"""``SMS_received`` is deliberately not required: it is not used (see the model card)."""

MAX_AGE = 120


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    """One appointment as known when it was booked, plus its outcome when known."""

    patient_id: str
    appointment_id: str
    female: bool
    scheduled_at: datetime
    appointment_day: date
    age: int | None
    neighbourhood: str
    welfare: bool
    hypertension: bool
    diabetes: bool
    alcoholism: bool
    handicap: int
    no_show: bool | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was skipped: its line in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class AppointmentFile:
    """The usable appointments of one file and the rows that were skipped."""

    appointments: list[BookedAppointment]
    bad_rows: list[BadRow]


class _RowError(ValueError):
    pass


def _flag(row: dict[str, str], column: str) -> bool:
    value = row[column].strip()
    if value not in ("0", "1"):
        raise _RowError(f"{column} is not 0 or 1")
    return value == "1"


def _integer(row: dict[str, str], column: str) -> int:
    value = row[column].strip()
    try:
        number = float(value)
    except ValueError:
        raise _RowError(f"{column} is not a number") from None
    if number != int(number):
        raise _RowError(f"{column} is not a whole number")
    return int(number)


def _timestamp(row: dict[str, str], column: str) -> datetime:
    value = row[column].strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(f"{column} is not an ISO date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_row(row: dict[str, str], *, require_outcome: bool) -> BookedAppointment:
    """One CSV row → appointment; raises ``ValueError`` naming the column at fault."""
    patient_id = row["PatientId"].strip()
    appointment_id = row["AppointmentID"].strip()
    if not patient_id:
        raise _RowError("PatientId is empty")
    if not appointment_id:
        raise _RowError("AppointmentID is empty")
    # Some copies store the id as a float ("2.98e+13" or "29872499824296.0"): normalise.
    try:
        patient_id = str(int(float(patient_id))) if not patient_id.isdigit() else patient_id
    except ValueError:
        raise _RowError("PatientId is not a number") from None
    gender = row["Gender"].strip().upper()
    if gender not in ("F", "M"):
        raise _RowError("Gender is not F or M")
    scheduled_at = _timestamp(row, "ScheduledDay")
    appointment_day = _timestamp(row, "AppointmentDay").date()
    if scheduled_at.date() > appointment_day:
        raise _RowError("ScheduledDay is after AppointmentDay")
    age = _integer(row, "Age")
    if age > MAX_AGE or age < -1:
        raise _RowError("Age is out of range")
    handicap = _integer(row, "Handcap")
    if not 0 <= handicap <= 4:
        raise _RowError("Handcap is not 0-4")
    outcome = row["No-show"].strip()
    no_show: bool | None
    if outcome in ("Yes", "No"):
        no_show = outcome == "Yes"
    elif not outcome and not require_outcome:
        no_show = None
    else:
        raise _RowError("No-show is not Yes or No")
    return BookedAppointment(
        patient_id=patient_id,
        appointment_id=appointment_id,
        female=gender == "F",
        scheduled_at=scheduled_at,
        appointment_day=appointment_day,
        # -1 occurs in the real data: unknown, not an error.
        age=age if age >= 0 else None,
        neighbourhood=row["Neighbourhood"].strip().upper(),
        welfare=_flag(row, "Scholarship"),
        hypertension=_flag(row, "Hipertension"),
        diabetes=_flag(row, "Diabetes"),
        alcoholism=_flag(row, "Alcoholism"),
        handicap=handicap,
        no_show=no_show,
    )


def parse_rows(
    rows: Iterable[dict[str, str]], *, require_outcome: bool = True, first_line: int = 2
) -> AppointmentFile:
    """Parse dict rows (as from :class:`csv.DictReader`), keeping the good, reporting the bad."""
    appointments: list[BookedAppointment] = []
    bad_rows: list[BadRow] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=first_line):
        if None in row or any(row.get(column) is None for column in REQUIRED_COLUMNS):
            bad_rows.append(BadRow(line=line, reason="wrong number of fields"))
            continue
        try:
            appointment = parse_row(row, require_outcome=require_outcome)
        except _RowError as exc:
            bad_rows.append(BadRow(line=line, reason=str(exc)))
            continue
        if appointment.appointment_id in seen:
            bad_rows.append(BadRow(line=line, reason="AppointmentID repeats an earlier row"))
            continue
        seen.add(appointment.appointment_id)
        appointments.append(appointment)
    return AppointmentFile(appointments=appointments, bad_rows=bad_rows)


def read_appointments(path: Path, *, require_outcome: bool = True) -> AppointmentFile:
    """Read a whole CSV file; missing columns or an unreadable file raise ``InvalidInput``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in REQUIRED_COLUMNS if column not in header]
            if missing:
                raise InvalidInput(
                    f"{path.name}: missing columns: {', '.join(missing)}", field="csv"
                )
            parsed = parse_rows(reader, require_outcome=require_outcome)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", field="csv") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a CSV file", field="csv") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: not UTF-8 text", field="csv") from None
    except csv.Error as exc:
        raise InvalidInput(f"{path.name}: not a readable CSV file ({exc})", field="csv") from None
    if not parsed.appointments:
        raise InvalidInput(f"{path.name}: no usable appointment rows", field="csv")
    return parsed
