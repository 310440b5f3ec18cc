"""Typed settings grouped by concern, loaded once by a factory (never at import time).

Values come from the environment (``CARELOOP_...``, nested with ``__``) or a ``.env`` file.
Every secret may instead be given as ``CARELOOP_<NAME>_FILE``, a path the value is read
from, so it never sits in the environment or the process list. ``docs/configuration.md`` is
generated from these models (``tools/configuration_doc.py``).
"""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from careloop.channels.settings import ChannelsSettings
from careloop.settings.variables import ENV_PREFIX as ENV_PREFIX
from careloop.settings.variables import SECRET, SecretFilesSource
from careloop.settings.variables import ConfigurationError as ConfigurationError
from careloop.settings.variables import Variable as Variable
from careloop.settings.variables import setting_variables as setting_variables

DEFAULT_SQLITE_PATH = Path("careloop.db")


class DatabaseSettings(BaseModel):
    """Where the data lives. SQLite file by default; PostgreSQL in production."""

    url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}", json_schema_extra=SECRET)
    """SQLite file (``sqlite:///path``, or a bare path) or ``postgresql://user@host/db``; an SQLite
    file is created on first use, only in a folder that exists."""
    echo: bool = False
    """Log every SQL statement (development only: statements carry no values, but are many)."""
    pool_size: int = 5
    """PostgreSQL connections kept per process (as many again may open under load)."""
    auto_migrate: bool | None = None
    """Migrate on start (default: yes in development, no in production, where the operator
    runs ``careloop db upgrade`` and every other command refuses an outdated schema)."""


class RecordsSettings(BaseModel):
    """Patient-record defaults."""

    default_timezone: str = "America/New_York"
    """Time zone of a patient whose record and address give none (quiet hours, send times)."""
    default_region: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    """ISO 3166 country a national phone number (``(617) 555-0199``) is read in when the
    patient's address names no country; a number that cannot be read there is reported at
    import and never dialled."""

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()


class LoggingSettings(BaseModel):
    """Structured logs; PHI is never logged whatever the level."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Lowest level written (any case). PHI is never logged, whatever the level."""
    json_format: bool = Field(default=True, alias="json")
    """JSON lines (for a log collector); ``false`` gives one readable line per record."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class WebSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    """Interface ``careloop serve`` listens on (``--host`` overrides)."""
    port: int = 8000
    """Port ``careloop serve`` listens on (``--port`` overrides)."""
    max_body_bytes: int = 5 * 1024 * 1024
    """Larger request bodies are refused with 413 before they are read."""
    production: bool = False
    """A production deployment: API docs off unless asked for, secure cookies."""
    api_docs: bool | None = None
    """Serve ``/docs`` and ``/openapi.json`` (default: on except in production)."""
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` answers only ``Authorization: Bearer <token>`` (it shows
    aggregates, never a patient, so an internal network may leave it open)."""
    intake_batch_ms: int = Field(default=20, ge=0, le=1000)
    """On PostgreSQL, readings and check-ins posted to ``/fhir`` within this many
    milliseconds are committed in one transaction (group commit); 0 commits each request on
    its own. SQLite always does (one writer)."""
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Proxies (addresses, CIDR networks) whose forwarding header names the client."""
    proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    """The one header they write: ``X-Forwarded-For`` (+ ``-Proto``) or RFC 7239's."""


class OidcSettings(BaseModel):
    """An external OpenID Connect provider for staff sign-in (optional; off when unset)."""

    issuer: str | None = None
    """OpenID Connect issuer URL; staff sign-in through it is off while unset."""
    client_id: str | None = None
    """The client id registered with the provider."""
    audience: str | None = None
    """Expected ``aud`` of ID tokens (default: the client id)."""
    jwks_url: str | None = None
    """Where the provider's signing keys are fetched (default: from discovery)."""
    jwks_file: Path | None = None
    """A local copy of the provider's signing keys (air-gapped installs)."""
    username_claim: str = "preferred_username"
    """ID-token claim naming the careloop user."""
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    """Signature algorithms accepted on ID tokens."""


class SecuritySettings(BaseModel):
    """Keys, session lifetimes and rate limits. Secrets come from env vars or ``*_file`` paths."""

    secret_key: SecretStr | None = None
    """Signs sessions, tokens and booking, form and unsubscribe links; without one a key
    generated once is kept in the database (table ``instance_secrets``), readable by anyone
    who can read the database: set one in production."""
    secret_key_file: Path | None = None
    """A file holding the secret key."""
    encryption_key: SecretStr | None = None
    """Fernet key encrypting contact points at rest."""
    encryption_key_file: Path | None = None
    """A file holding the encryption key."""
    public_base_url: str = "http://127.0.0.1:8000"
    """The address patients and providers reach the service at (links in messages, webhook
    signatures): the ``outreach.*_link`` and ``forms.link`` settings follow it unless set.
    Set, it is also the FHIR base given to clients (``<this>/fhir`` in ``fullUrl``,
    ``Location`` and paging links); unset, FHIR links follow the request's host."""
    console_session_minutes: int = 480
    """Absolute lifetime of a care-team console session."""
    console_idle_minutes: int = 30
    """A console session unused this long ends."""
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    """An API process trusts a bearer token it verified this recently without reading it
    again; a revocation made in another process takes effect within this bound (at once in
    the process that made it). 0 reads every token from the database."""
    portal_token_minutes: int = 30
    """Patient portal sign-in tokens last this long."""
    unsubscribe_link_days: int = 60
    """Unsubscribe links in messages stay valid this long."""
    signin_per_minute: int = 10
    """Sign-in attempts allowed per minute and source."""
    webhook_per_second: int = 50
    """Webhook calls with a refused signature per second an address (then 429); signed: no limit."""
    oidc: OidcSettings = OidcSettings()


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days (0 = keep forever)."""

    message_bodies_days: int = 365
    """Bodies of sent messages (the send record itself is kept)."""
    raw_inbound_days: int = 90
    """Raw inbound replies and provider callbacks."""
    audit_days: int = 2192
    """Audit events (monthly checkpoints keep the chain verifiable)."""
    deceased_records_days: int = 3653
    """Records of deceased patients."""
    portal_codes_days: int = 1
    """Used or expired portal sign-in codes."""
    expired_tokens_days: int = 90
    """Expired or revoked API tokens."""
    signin_sources_days: int = 1
    """Client addresses' failed sign-ins (the per-address back-off), after the last one."""
    other_days: dict[str, int] = Field(default_factory=dict)
    """Days for further retention targets, by target setting name (JSON)."""


class JobsSettings(BaseModel):
    """Periodic jobs, run by every ``careloop worker`` (and by ``careloop serve`` when it runs
    its in-process worker); a lease in the database lets one process run each job per period.
    Periods are minutes; 0 turns a job off."""

    enabled: bool = True
    """Run the periodic jobs in ``careloop worker`` and ``serve``'s in-process worker."""
    outreach_tick_minutes: float = Field(default=5.0, ge=0)
    """Enroll the newly eligible, queue due journey steps, learn from resolved rewards."""
    outreach_tick_care_gaps: bool | None = None
    """The outreach tick also identifies every care-gap program's patients. Unset: it does
    unless ``nightly_at`` schedules the nightly cycle. Set it false where ``careloop nightly``
    runs otherwise (a timer, ``--queue``): the tick then enrolls appointment journeys, follows
    enrollments and queues due steps only, instead of evaluating the whole population in one
    transaction every few minutes."""
    escalations_minutes: float = Field(default=1.0, ge=0)
    """Escalate unacknowledged alerts past their deadline."""
    missing_data_minutes: float = Field(default=1440.0, ge=0)
    """Nudge patients whose device readings stopped, then raise call tasks."""
    retention_purge_minutes: float = Field(default=1440.0, ge=0)
    """Delete what is older than its retention period (aggregates are kept)."""
    nightly_at: time | None = None
    """UTC time of day (``HH:MM``) a worker runs the nightly cycle (``careloop nightly``:
    every program's care gaps, decisions and outbox rows, in slices of patients, in the
    worker's process); unset leaves it to a timer running ``careloop nightly --workers N``."""
    lease_minutes: float = Field(default=30.0, gt=0)
    """A job whose process died is run again by another process after this long."""
    ready_worker_minutes: float = Field(default=10.0, gt=0)
    """``/ready`` fails when no process has started a job for this long."""
    fhir_subscriptions_minutes: float = Field(default=1.0, ge=0)
    """Find what changed for each FHIR Subscription (and the EHR push), send due
    notifications, retry failed ones with backoff."""
    fhir_exports_minutes: float = Field(default=0.1, ge=0)
    """Write the Bulk Data exports kicked off since the last run (the status URL answers 202
    until then)."""
    review_invitations_minutes: float = Field(default=60.0, ge=0)
    """Invite patients whose visit ended to review the practice (``reviews``)."""
    programs_rollup_minutes: float = Field(default=1440.0, ge=0)
    """Compute the console programs page's figures (the program report of the last 8 weeks
    and its weekly learning curves) and store them; the page shows when they were computed."""
    ride_dispatch_minutes: float = Field(default=5.0, ge=0)
    """Request the rides booked visits need from the ride provider (``access.rides``) and
    cancel there the rides of visits cancelled or moved since the last run."""
    fact_backfill_minutes: float = Field(default=1.0, ge=0)
    """Fill in the typed columns of facts stored before they existed (migration 0550), in
    committed slices; once all are filled in, a run reads one row."""
    fact_backfill_seconds: float = Field(default=20.0, gt=0)
    """How long one run of the fact backfill goes on (it resumes at the next run)."""


class FhirSettings(BaseModel):
    """The FHIR interface's outbound side: Subscription notifications (rest-hook) and the push
    of what careloop learned to a configured EHR FHIR endpoint."""

    subscription_attempts: int = Field(default=6, ge=1)
    """A notification that failed this many times goes to the dead letters."""
    subscription_backoff_seconds: float = Field(default=30.0, gt=0)
    """Wait before the first retry; each further retry waits twice as long as the last."""
    subscription_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    """The longest wait between two attempts."""
    subscription_timeout_seconds: float = Field(default=10.0, gt=0)
    """An endpoint that has not answered after this long counts as a failed attempt."""
    subscription_batch: int = Field(default=200, ge=1)
    """Notifications sent per run of the delivery job (the rest wait for the next run)."""
    subscription_allow_http: bool = False
    """Accept ``http://`` endpoints on other hosts than the loopback (never in production:
    notifications may carry PHI)."""
    ehr_push_url: str | None = None
    """An EHR's FHIR base URL: what careloop learned is pushed there as conditional updates
    (``PUT [base]/Flag?identifier=...``); off while unset."""
    ehr_push_types: list[str] = Field(
        default_factory=lambda: ["Flag", "Task", "CarePlan", "Communication", "MeasureReport"]
    )
    """Resource types pushed to the EHR (JSON list)."""
    ehr_push_token: SecretStr | None = None
    """Bearer token sent to the EHR endpoint."""
    ehr_push_token_file: Path | None = None
    """A file holding the EHR endpoint's bearer token."""


class ReturnVisitsSettings(BaseModel):
    """When a patient counts as lapsed (``careloop report``'s retention figures); the
    win-back program's criteria say the same in its own file (``win-back-lapsed.yaml``)."""

    lapse_days: int = Field(default=365, gt=0)
    """Days without a visit after which a patient is lapsed, unless a segment says less."""
    lapse_days_by_segment: dict[str, int] = Field(
        default_factory=lambda: {"diabetes": 183, "hypertension": 183}
    )
    """Shorter intervals for patients in these segments (the shortest applies; JSON)."""


class LoyaltySettings(BaseModel):
    """Rewards for preventive care and streaks, within the compliance office's caps."""

    rewards_file: Path | None = None
    """The practice's rewards catalogue (YAML; default: the shipped sample,
    ``loyalty/rewards.yaml``). Caps and disallowed services are required in it."""
    earn_lookback_days: int = Field(default=30, gt=0)
    """How far back ``careloop rewards earn`` reads completed care when not told."""


class RidesSettings(BaseModel):
    """The ride provider for visits that need one (``access.rides``): the built-in fake, or
    a non-emergency transport broker over HTTPS whose status webhooks come back signed."""

    provider: Literal["fake", "http"] = "fake"
    """``fake`` records requests in memory (demo, tests); ``http`` calls ``base_url``."""
    base_url: str | None = None
    """The broker's API root (``POST /rides``, ``GET /rides/{id}``, ``POST /rides/{id}/cancel``)."""
    api_token: SecretStr | None = None
    """Bearer token careloop sends to the broker."""
    webhook_secret: SecretStr | None = None
    """Shared secret of the broker's status webhooks (HMAC-SHA256 of ``timestamp.body`` in
    ``X-Ride-Signature``); webhooks are refused (403) while it is unset."""
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    """A webhook whose ``X-Ride-Timestamp`` is further than this from now is refused (replay)."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """Time allowed for one call to the broker."""


class AccessSettings(BaseModel):
    """Scheduling access: offers, bookings, rides (issue "Access")."""

    rides: RidesSettings = RidesSettings()
    video_join_url: str | None = None
    """The video call of a visit whose record names none (``/portal/video/<id>``'s join
    button), ``{booking}`` standing for the visit's id (``https://meet.example.org/{booking}``);
    unset, the page says the care team will start the call."""


class FormsSettings(BaseModel):
    """Forms sent to the patient's phone and signed there (``careloop forms send``)."""

    link: str = "http://127.0.0.1:8000/portal/forms"
    """The public address of the form page; the signed token is appended. Unset:
    ``<security.public_base_url>/portal/forms``."""
    link_days: int = Field(default=7, gt=0, le=90)
    """Days a form link works, unless the form is signed first."""


class ReviewsSettings(BaseModel):
    """Invitations to review the practice on a public review site, sent to every patient
    after a visit alike (no review gating); off until ``site_url`` is set."""

    site_name: str = ""
    """The review site's name as patients know it (e.g. ``Google``)."""
    site_url: str = Field(default="", pattern=r"^(https://\S+)?$")
    """The practice's review page on that site (https); empty sends no invitation."""
    delay_hours: float = Field(default=2.0, ge=0)
    """Hours after a visit ends before the invitation is queued."""
    lookback_days: int = Field(default=7, gt=0)
    """Visits that started longer ago than this get no (late) invitation."""
    min_days_between: int = Field(default=365, ge=0)
    """At most one invitation per patient in this many days, however many visits."""


# Abbreviations in team names, spelled out for a title nobody configured.
_TEAM_WORDS = {"rpm": "remote monitoring", "bp": "blood pressure"}


def title_from_name(name: str) -> str:
    """``Oncology nursing`` for ``oncology-nursing``: a slug in words (the sensible default)."""
    words = [_TEAM_WORDS.get(w, w) for w in name.replace("_", "-").split("-") if w]
    return " ".join(words).capitalize() or name


def in_sentence(title: str) -> str:
    """A team's title as a sentence says it: "the oncology nursing lead", not "the Oncology
    nursing lead". A title is written for a heading (sentence case: its first letter up);
    inside a sentence that letter comes down, unless the first word is an abbreviation or a
    name ("ICU nursing", "McKinley clinic", "Dr. Lee's team") that is capitalised anywhere."""
    first = title.split(" ", 1)[0]
    if not first[:1].isupper() or first.endswith(".") or first[1:] != first[1:].lower():
        return title
    return title[0].lower() + title[1:]


class TeamSettings(BaseModel):
    """A care team that worklist items go to: rules, tasks and staff accounts name it by
    ``name`` (a slug, kept in URLs and filters); the console shows its ``title``."""

    name: str
    title: str = ""
    """What staff read; empty: the name in words (``rpm-nursing``: "Remote monitoring nursing")."""

    @property
    def shown(self) -> str:
        return self.title or title_from_name(self.name)


def _default_teams() -> list[TeamSettings]:
    return [
        TeamSettings(name="oncology-nursing", title="Oncology nursing"),
        TeamSettings(name="rpm-nursing", title="Remote monitoring nursing"),
        TeamSettings(name="care-coordination", title="Care coordination"),
        TeamSettings(name="behavioral-health", title="Behavioral health"),
        TeamSettings(name="care-team", title="Care team"),
    ]


class Settings(BaseSettings):
    """All settings; one instance per process, built by :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    """``production`` never migrates implicitly: run ``careloop db upgrade`` on deploy."""
    database_url: str | None = Field(default=None, json_schema_extra=SECRET)
    """Shorthand for ``database.url``; wins over it (also the ``--database`` default)."""
    data_dir: Path | None = None
    """Files careloop keeps (trained models, ...). Default: ``careloop-data`` next to the
    SQLite file; for PostgreSQL ``$XDG_DATA_HOME/careloop`` (``~/.local/share/careloop``)."""
    models_dir: Path | None = None
    """Trained risk models (default ``<data_dir>/models``)."""
    database: DatabaseSettings = DatabaseSettings()
    records: RecordsSettings = RecordsSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    channels: ChannelsSettings = ChannelsSettings()
    security: SecuritySettings = SecuritySettings()
    retention: RetentionSettings = RetentionSettings()
    jobs: JobsSettings = JobsSettings()
    fhir: FhirSettings = FhirSettings()
    return_visits: ReturnVisitsSettings = ReturnVisitsSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    access: AccessSettings = AccessSettings()
    forms: FormsSettings = FormsSettings()
    reviews: ReviewsSettings = ReviewsSettings()
    teams: list[TeamSettings] = Field(default_factory=_default_teams)
    """The care teams and the names staff read, e.g. ``[{"name": "wound-care", "title":
    "Wound clinic"}]``; a team missing here is shown by its name in words
    (``oncology-nursing``: "Oncology nursing")."""
    # Not a setting: the signing key kept with the database, attached by ``open_runtime``
    # when ``security.secret_key`` is unset (see ``crypto.signing_key``).
    _kept_signing_key: bytes | None = PrivateAttr(default=None)

    @property
    def kept_signing_key(self) -> bytes | None:
        """The database's own signing key, when a runtime attached one."""
        return self._kept_signing_key

    def with_kept_signing_key(self, key: bytes) -> Settings:
        """A copy that signs with ``key``: a copy, because one process may open several
        databases (tests, ``--database``), each with its own key."""
        copy = self.model_copy()
        copy._kept_signing_key = key
        return copy

    def team_title(self, name: str | None) -> str:
        """What staff read for the team ``name`` (configured, else the name in words)."""
        if not name:
            return "—"
        found = next((t for t in self.teams if t.name == name), None)
        return found.shown if found else title_from_name(name)

    def public_link(self, group: BaseModel, field: str, *, path: str) -> str:
        """``group.field`` when set explicitly, else ``path`` under ``security.public_base_url``:
        a deployment that sets only its public URL must not send patients links to the
        development address the link settings default to."""
        if field in group.model_fields_set:
            return str(getattr(group, field))
        return self.security.public_base_url.rstrip("/") + path

    @property
    def resolved_database_url(self) -> str:
        """``CARELOOP_DATABASE_URL`` wins over the nested ``database.url``."""
        return self.database_url or self.database.url

    def resolved_data_dir(self, database_url: str | None = None) -> Path:
        """The data directory for this database (``data_dir`` when set)."""
        if self.data_dir is not None:
            return self.data_dir.expanduser()
        url = database_url or self.resolved_database_url
        if "://" not in url or url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else url
            if path and path != ":memory:":
                return Path(path).expanduser().resolve().parent / "careloop-data"
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "careloop"

    def resolved_models_dir(self, database_url: str | None = None) -> Path:
        """Where trained models are saved and loaded."""
        if self.models_dir is not None:
            return self.models_dir.expanduser()
        return self.resolved_data_dir(database_url) / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @property
    def auto_migrate(self) -> bool:
        """Whether commands bring the schema up to date themselves."""
        if self.database.auto_migrate is not None:
            return self.database.auto_migrate
        return self.environment != "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
