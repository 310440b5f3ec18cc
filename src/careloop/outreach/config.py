"""Outreach settings (``CARELOOP_OUTREACH__...``) and the channel settings the worker uses.

Read once by :func:`outreach_settings` from the environment, unless the process settings
already carry ``outreach``/``channels`` groups (then those win), so nothing is configured at
import time and tests pass their own values.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from careloop.channels.settings import ChannelsSettings
from careloop.settings import Settings


class WorkerSettings(BaseModel):
    batch: int = Field(default=200, ge=1, le=10_000)
    lease_seconds: float = Field(default=60.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    backoff_base_seconds: float = Field(default=30.0, gt=0)
    backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    slot_lead_ms: float = Field(default=50.0, ge=0)
    pace_margin: float = Field(default=0.05, ge=0, lt=0.5)
    """Pace senders this much under their limit: slots are exact in the database, but a
    process descheduled for a few ms sends late and bunches against the next send; 5 % of
    slack over a second absorbs that so the provider never sees more than the limit."""
    late_tolerance_ms: float = Field(default=50.0, ge=0)
    """A worker that wakes more than this after its slot takes a fresh slot instead of
    sending at once (a descheduled process would otherwise burst its overdue sends). Less
    than ``pace_margin / (1 - pace_margin)`` seconds (52.6 ms at 5 %), so sends up to this late
    still keep every sender under its limit in any second. On a loaded host with senders to
    spare, a wider margin (0.3) allows a wider tolerance (400 ms): fewer fresh slots to
    reserve, at 30 % less of each sender's capacity."""
    record_every: int = Field(default=1, ge=1, le=10_000)
    """Sends between two result records on channels whose gateway cannot be asked (voice,
    email; the others use ``results_per_commit``). 1: a crash leaves at most one send per
    worker in doubt (a real gateway's HTTP call dwarfs the commit). More: fewer commits, and
    up to this many duplicates (or sends held for review) per crash."""
    results_per_commit: int = Field(default=200, ge=1, le=10_000)
    """Largest group on channels whose gateway can be asked what it sent (SMS through
    Twilio): one transaction writes a group's results, re-slots the next group and marks it
    ``calling`` (about 0.3 statements per message instead of 12.6). A crash leaves at most
    one group in doubt, each message reconciled against the gateway's list, never re-sent
    blindly. Gateways that cannot be asked keep ``record_every``."""
    group_seconds: float = Field(default=0.25, gt=0)
    """How long a group's sends should take: a group is the sends the worker expects to make
    in this time (its measured time per send and the group's send slots), at most
    ``results_per_commit``, at least one. A fast gateway fills whole groups (the group
    commit's cost spread over many sends); a slow one (a real Twilio call, ~0.1-0.3 s) gets
    groups of one to three, each result recorded as it comes, and a crash leaves about this
    long of sends in doubt."""
    concurrency: int = Field(default=1, ge=1, le=256)
    """Sends in flight at once per worker (threads, each recording every result as it
    comes). A slow gateway call (~100-300 ms for Twilio) would otherwise cap one worker at a
    few messages a second. A crash leaves up to this many sends in doubt (reconciled, or
    held for review)."""
    resend_in_doubt: bool = False
    """A message a crashed worker may have sent, on a channel whose gateway cannot be asked
    (voice): ``False`` holds it for review (never a double call), ``True`` re-sends it."""
    reconcile_slack_s: float = Field(default=300.0, ge=0)
    """How far before the in-doubt attempt the gateway's records are searched (clock skew)."""
    presence: bool = True
    """On PostgreSQL, hold an advisory lock for the worker's life, so the other workers adopt
    its senders and rows the moment it dies instead of after its leases. Turn off behind a
    pooler in transaction mode (PgBouncer): the lock would live on a pooled server backend,
    not with this worker; leases alone decide then."""

    @model_validator(mode="after")
    def _tolerance_within_margin(self) -> WorkerSettings:
        """Slots are ``1 / (rate * (1 - margin))`` apart and a send falls within the
        tolerance after its slot, so any second holds the sends of at most
        ``(1 + tolerance) * (1 - margin) * rate`` slots: at most ``rate`` only while the
        tolerance is under ``margin / (1 - margin)`` seconds (at it, two sends can fall
        exactly a second apart)."""
        most = 1000.0 * self.pace_margin / (1.0 - self.pace_margin)
        if self.late_tolerance_ms >= most:
            raise ValueError(
                f"late_tolerance_ms must be under {most:.1f} with pace_margin "
                f"{self.pace_margin} (a late send would put a sender over its limit)"
            )
        return self


class BudgetSettings(BaseModel):
    """The contact budget per patient, across every program and channel (sliding windows).

    Enforced when a step is decided and again by the worker right before each send, so two
    programs (or a staff message) deciding at once cannot both spend the last contact.
    Confirmations of a patient's own STOP/HELP and the portal copy of a withheld message do
    not count."""

    per_day: int = Field(default=2, ge=0)
    """Most contacts in any 24 hours."""
    per_week: int = Field(default=3, ge=0)
    """Most contacts in any 7 days (the engine's weekly budget uses the same figure)."""
    min_gap_hours: float = Field(default=4.0, ge=0, le=168, allow_inf_nan=False)
    """Least time between two contacts to a patient across programs and channels (0: none; at
    most a week, 168: older contacts are not read for spacing).
    A step decided too close to another contact is held; a message that comes due too close
    at dispatch waits for the gap to end (never inside quiet hours). Replies to the
    patient's own message, a care-team member's message and safety answers are exempt."""


class OutreachSettings(BaseModel):
    worker: WorkerSettings = WorkerSettings()
    budget: BudgetSettings = BudgetSettings()
    sender_rates: dict[str, float] = Field(default_factory=dict)
    """Messages per second per sender key (``sms:+15550100``), over what the adapter says."""
    clinic_phone: str = "(555) 010-0199"
    clinic_language: str = "en"
    """The language the care team speaks (BCP-47 primary tag): what a message is answered in
    when neither the sender's nor the patient's language is known, and a call task for a
    patient who speaks another says "interpreter needed"."""
    care_team_name: str = "your care team"
    care_team_names: dict[str, str] = Field(
        default_factory=lambda: {"es": "su equipo de salud", "pt": "sua equipe de saúde"}
    )
    """``care_team_name`` per language (``{"es": "Clínica Riverside"}``): how a message in that
    language is signed, so Spanish or Portuguese text never says "Aqui é your care team";
    other languages use ``care_team_name`` (Chinese too: its text awaits review, so a Chinese
    patient is sent English, which must carry the English name)."""
    default_place: str = "the clinic"
    """Where an appointment is when its record names no location."""
    booking_link: str = "http://127.0.0.1:8000/portal/visits"
    """Where a message asks the patient to book (its ``booking_link``): the portal's visits
    page, which shows their open offer or the best free times. Unset:
    ``<security.public_base_url>/portal/visits``."""
    portal_link: str = "http://127.0.0.1:8000/portal"
    """The portal's root; a signed self-scheduling link is ``<this>/book/<token>``. Unset:
    ``<security.public_base_url>/portal``."""
    telehealth_link: str = "http://127.0.0.1:8000/portal/video"
    """Where a video visit is joined: its reminders link ``<this>/<appointment id>``, unless
    the Appointment carries its own link (``fhirdata.visits.TELEHEALTH_LINK_EXTENSION``).
    Unset: ``<security.public_base_url>/portal/video``."""
    ride_provider: str = "Careloop Rides"
    """The name patients know the ride service by, in reminders of visits with a ride."""
    blocked_retry_hours: float = Field(default=24.0, gt=0)
    carrier_handles_opt_out: bool = False
    """Twilio Advanced Opt-Out (or a carrier) answers STOP/START/HELP itself: careloop records
    the opt-out but sends no confirmation of its own (the carrier would refuse it: 21610)."""
    programs_dir: str | None = None
    """Extra folder of outreach journey files (``*.yaml``)."""


def care_team_for(settings: OutreachSettings, language: str | None) -> str:
    """The care team's name in ``language`` (``es-MX`` reads ``es``), else the default."""
    base = (language or "en").split("-")[0].lower()
    return settings.care_team_names.get(base, settings.care_team_name)


class _FromEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )
    outreach: OutreachSettings = OutreachSettings()
    channels: ChannelsSettings = ChannelsSettings()


# The links a message carries, as paths under ``security.public_base_url`` when unset.
_LINK_PATHS = {
    "booking_link": "/portal/visits",
    "portal_link": "/portal",
    "telehealth_link": "/portal/video",
}


def outreach_settings(settings: Settings) -> tuple[OutreachSettings, ChannelsSettings]:
    """The process settings' groups when present, else read from the environment; links not
    set explicitly follow ``security.public_base_url``."""
    own = getattr(settings, "outreach", None)
    channels = getattr(settings, "channels", None)
    if not (isinstance(own, OutreachSettings) and isinstance(channels, ChannelsSettings)):
        env = _FromEnv()
        own = own if isinstance(own, OutreachSettings) else env.outreach
        channels = channels if isinstance(channels, ChannelsSettings) else env.channels
    links = {f: settings.public_link(own, f, path=p) for f, p in _LINK_PATHS.items()}
    return own.model_copy(update=links), channels


def default_sender(channels: ChannelsSettings, channel: str) -> str | None:
    """The address a channel sends from when nothing more specific is chosen."""
    if channel == "sms":
        if channels.sms.default_sender:
            return channels.sms.default_sender
        return channels.sms.senders[0].number if channels.sms.senders else None
    if channel == "voice":
        return channels.voice.caller_id or default_sender(channels, "sms")
    # Email: none on the row, so the adapter writes ``channels.email.from_address`` as it is
    # when the mail goes (the envelope does too): a From frozen when the row was queued would
    # go out from an address the operator has since left, and fail DMARC alignment.
    return None
