"""CQL Date and DateTime values: calendar components with a precision.

CQL compares temporal values component by component up to the coarser of the two precisions
(or the precision an operator names, ``same day as``). When they agree that far but one value
is less precise, the answer is unknown (null), not false. DateTimes that carry a time of day
are held in UTC (the evaluation's offset) and remember the offset they were written with:
CQL normalises offsets only for comparisons at hour precision or finer, so a comparison at
day precision or coarser (``during day of``), ``date from`` and component extraction use
the date as written (CQL 1.5, "Comparison Operators"; fqm-execution does the same).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, MILLISECOND = range(7)
PRECISION_NAMES = ("year", "month", "day", "hour", "minute", "second", "millisecond")
PRECISIONS = {name: index for index, name in enumerate(PRECISION_NAMES)}
# CQL and UCUM spellings of the calendar units a DateTime can be moved by.
UNIT_PRECISION = {
    **PRECISIONS,
    **{name + "s": index for name, index in PRECISIONS.items()},
    "a": YEAR,
    "mo": MONTH,
    "wk": -1,
    "week": -1,
    "weeks": -1,
    "d": DAY,
    "h": HOUR,
    "min": MINUTE,
    "s": SECOND,
    "ms": MILLISECOND,
}
_PARSE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_DAY_SECONDS = 86400


def precision_of(name: str | None) -> int | None:
    """An ELM ``precision`` attribute (``Day``) as a component index; None when absent."""
    return None if name is None else PRECISIONS[name.lower()]


def _parts(moment: datetime) -> tuple[int, ...]:
    """Year to millisecond of a datetime, the components a CqlDateTime keeps."""
    return (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


def _moment(p: Sequence[int]) -> datetime:
    """The UTC datetime of year-to-millisecond components."""
    return datetime(p[0], p[1], p[2], p[3], p[4], p[5], p[6] * 1000, tzinfo=UTC)


class CqlDateTime:
    """A CQL DateTime (or Date when ``is_date``): seven components, the first ``prec+1`` known.

    Components past the precision are held at their minimum so tuples compare simply.
    """

    __slots__ = ("is_date", "offset", "parts", "prec")

    def __init__(
        self, parts: tuple[int, ...], prec: int, *, is_date: bool = False, offset: int = 0
    ) -> None:
        self.parts = parts
        self.prec = prec
        self.is_date = is_date
        self.offset = offset  # minutes east of UTC the value was written in

    def local_parts(self) -> tuple[int, ...]:
        """The components as written (``parts`` are UTC)."""
        if not self.offset or self.prec < HOUR:
            return self.parts
        try:
            return _parts(_moment(self.parts) + timedelta(minutes=self.offset))
        except OverflowError:
            return self.parts

    @classmethod
    def build(
        cls,
        components: list[int | None],
        *,
        offset_hours: float | None = 0.0,
        is_date: bool = False,
    ) -> CqlDateTime | None:
        """From year..millisecond (trailing None = not given); time of day moved to UTC."""
        known = 0
        while known < len(components) and components[known] is not None:
            known += 1
        if known == 0:
            return None
        full = [int(c) if c is not None else 0 for c in components[:known]]
        defaults = (1, 1, 1, 0, 0, 0, 0)
        parts = tuple(full + list(defaults[known:7]))
        prec = known - 1
        offset = 0
        if prec >= HOUR and offset_hours:
            offset = round(offset_hours * 60)
            moment = _moment(parts) - timedelta(hours=offset_hours)
            parts = _parts(moment)
        return cls(parts, prec, is_date=is_date, offset=offset)

    @classmethod
    def parse(cls, text: str, *, is_date: bool = False) -> CqlDateTime | None:
        """A FHIR/ISO date, dateTime or instant string; None when it is not one."""
        match = _PARSE.match(text.strip())
        if match is None:
            return None
        groups = match.groups()
        comps: list[int | None] = [int(g) if g is not None else None for g in groups[:6]]
        fraction = groups[6]
        comps.append(int((fraction + "00")[:3]) if fraction is not None else None)
        if is_date:
            comps = comps[:3]
        offset = 0.0
        zone = groups[7]
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * (int(zone[1:3]) + int(zone[4:6]) / 60)
        try:
            value = cls.build(comps, offset_hours=offset, is_date=is_date)
            if value is not None:
                datetime(
                    value.parts[0], value.parts[1], value.parts[2], tzinfo=UTC
                )  # validates the calendar date
        except ValueError:
            return None
        return value

    @classmethod
    def from_datetime(cls, moment: datetime, *, is_date: bool = False) -> CqlDateTime:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        parts = _parts(moment)
        if is_date:
            return cls((*parts[:3], 0, 0, 0, 0), DAY, is_date=True)
        return cls(parts, MILLISECOND)

    def to_datetime(self) -> datetime:
        return _moment(self.parts)

    def as_date(self) -> CqlDateTime:
        local = self.local_parts()
        return CqlDateTime((*local[:3], 0, 0, 0, 0), min(self.prec, DAY), is_date=True)

    def as_datetime(self) -> CqlDateTime:
        return CqlDateTime(self.parts, self.prec, offset=self.offset)

    def truncated(self, prec: int) -> CqlDateTime:
        keep = min(prec, self.prec)
        defaults = (1, 1, 1, 0, 0, 0, 0)
        return CqlDateTime(
            self.parts[: keep + 1] + defaults[keep + 1 :],
            keep,
            is_date=self.is_date,
            offset=self.offset,
        )

    def component(self, prec: int) -> int | None:
        return self.local_parts()[prec] if prec <= self.prec else None

    def compare(self, other: CqlDateTime, prec: int | None = None) -> int | None:
        """-1, 0, 1, or None when the values agree as far as both are known but one is vaguer."""
        a_prec = SECOND if self.prec == MILLISECOND else self.prec
        b_prec = SECOND if other.prec == MILLISECOND else other.prec
        upto = min(a_prec, b_prec) if prec is None else min(a_prec, b_prec, prec)
        count = MILLISECOND + 1 if upto == SECOND else upto + 1
        if prec is not None and prec <= DAY and (self.offset or other.offset):
            a, b = self.local_parts()[:count], other.local_parts()[:count]
        else:
            a, b = self.parts[:count], other.parts[:count]
        if a != b:
            return -1 if a < b else 1
        wanted = max(a_prec, b_prec) if prec is None else min(prec, SECOND)
        if a_prec >= wanted and b_prec >= wanted:
            return 0
        return None

    def shifted(self, amount: float, unit: str) -> CqlDateTime | None:
        """This value moved by a calendar quantity (CQL date arithmetic); None past the range."""
        step = UNIT_PRECISION.get(unit)
        if step is None:
            raise ValueError(f"not a calendar unit: {unit}")
        if step == -1:
            step, amount = DAY, amount * 7
        whole = int(amount)
        p = list(self.parts)
        try:
            if step <= MONTH or (step > self.prec and self.prec <= MONTH):
                months = whole * 12 if step == YEAR else whole if step == MONTH else 0
                if step > MONTH:  # days or finer on a year/month value: whole months only
                    months = int(whole / (30 if step == DAY else 30 * 24))
                total = p[0] * 12 + (p[1] - 1) + months
                year, month = divmod(total, 12)
                last = calendar.monthrange(year, month + 1)[1]
                p[0], p[1], p[2] = year, month + 1, min(p[2], last)
                datetime(p[0], p[1], p[2], tzinfo=UTC)
                return CqlDateTime(tuple(p), self.prec, is_date=self.is_date, offset=self.offset)
            delta = {
                DAY: timedelta(days=whole),
                HOUR: timedelta(hours=whole),
                MINUTE: timedelta(minutes=whole),
                SECOND: timedelta(seconds=whole),
                MILLISECOND: timedelta(milliseconds=whole),
            }[step]
            if self.prec <= DAY:
                delta = timedelta(days=int(delta.total_seconds() // _DAY_SECONDS))
            moment = _moment(p) + delta
        except (ValueError, OverflowError):
            return None
        parts = _parts(moment)
        return CqlDateTime(parts, self.prec, is_date=self.is_date, offset=self.offset)

    def successor(self) -> CqlDateTime | None:
        return self.shifted(1, PRECISION_NAMES[self.prec])

    def predecessor(self) -> CqlDateTime | None:
        return self.shifted(-1, PRECISION_NAMES[self.prec])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CqlDateTime)
            and self.parts == other.parts
            and self.prec == other.prec
            and self.is_date == other.is_date
        )

    def __hash__(self) -> int:
        return hash((self.parts, self.prec, self.is_date))

    def __repr__(self) -> str:
        return f"@{self.isoformat()}"

    def isoformat(self) -> str:
        p = self.parts
        text = f"{p[0]:04d}"
        seps = ("-", "-", "T", ":", ":", ".")
        widths = (2, 2, 2, 2, 2, 3)
        for index in range(1, self.prec + 1):
            text += f"{seps[index - 1]}{p[index]:0{widths[index - 1]}d}"
        if not self.is_date and self.prec >= HOUR:
            text += "Z"
        return text


MIN_DATETIME = CqlDateTime((1, 1, 1, 0, 0, 0, 0), MILLISECOND)
MAX_DATETIME = CqlDateTime((9999, 12, 31, 23, 59, 59, 999), MILLISECOND)
MIN_DATE = CqlDateTime((1, 1, 1, 0, 0, 0, 0), DAY, is_date=True)
MAX_DATE = CqlDateTime((9999, 12, 31, 0, 0, 0, 0), DAY, is_date=True)


def whole_between(start: CqlDateTime, end: CqlDateTime, prec: int) -> int | None:
    """CQL ``duration in <prec> between``: whole periods elapsed (calendar years, months...)."""
    needed = DAY if prec == -1 else prec
    if start.prec < needed or end.prec < needed:
        return None
    a, b = start.parts, end.parts
    if prec <= MONTH:
        months = (b[0] - a[0]) * 12 + (b[1] - a[1])
        if months > 0 and b[2:] < a[2:]:
            months -= 1
        elif months < 0 and b[2:] > a[2:]:
            months += 1
        return int(months / 12) if prec == YEAR else months
    if prec == -1:
        return int(start_to_end_ms(start, end) / 604_800_000)
    elapsed = start_to_end_ms(start, end)
    unit_ms = {DAY: 86_400_000, HOUR: 3_600_000, MINUTE: 60_000, SECOND: 1000, MILLISECOND: 1}[prec]
    return int(elapsed / unit_ms)


def start_to_end_ms(start: CqlDateTime, end: CqlDateTime) -> int:
    delta = end.to_datetime() - start.to_datetime()
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def boundaries_between(start: CqlDateTime, end: CqlDateTime, prec: int) -> int | None:
    """CQL ``difference in <prec> between``: boundaries crossed (calendar days, years...)."""
    if start.prec < prec or end.prec < prec:
        return None
    a, b = start.parts, end.parts
    if prec == YEAR:
        return b[0] - a[0]
    if prec == MONTH:
        return (b[0] - a[0]) * 12 + (b[1] - a[1])
    return whole_between(start.truncated(prec), end.truncated(prec), prec)
