"""Typed settings grouped by concern, loaded once by a factory (never at import time).

Values come from the environment (``CARELOOP_...``, nested with ``__``) or a ``.env`` file;
secrets may be given as ``CARELOOP_..._FILE`` paths so they never sit in the process list.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from careloop.channels.settings import ChannelsSettings

DEFAULT_SQLITE_PATH = Path("careloop.db")


class DatabaseSettings(BaseModel):
    """Where the data lives. SQLite file by default; PostgreSQL in production."""

    url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    echo: bool = False
    pool_size: int = 5
    auto_migrate: bool | None = None
    """Migrate on start (default: yes in development, no in production, where the operator
    runs ``careloop db upgrade`` and every other command refuses an outdated schema)."""


class RecordsSettings(BaseModel):
    """Patient-record defaults."""

    default_timezone: str = "America/New_York"


class LoggingSettings(BaseModel):
    """Structured logs; PHI is never logged whatever the level."""

    level: str = "INFO"
    json_format: bool = Field(default=True, alias="json")


class WebSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 5 * 1024 * 1024
    # A production deployment: API docs off unless asked for, secure cookies.
    production: bool = False
    # /docs and /openapi.json: None = on except in production.
    api_docs: bool | None = None
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` answers only ``Authorization: Bearer <token>`` (it shows
    aggregates, never a patient, so an internal network may leave it open)."""


class OidcSettings(BaseModel):
    """An external OpenID Connect provider for staff sign-in (optional; off when unset)."""

    issuer: str | None = None
    client_id: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    jwks_file: Path | None = None
    username_claim: str = "preferred_username"
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])


class SecuritySettings(BaseModel):
    """Keys, session lifetimes and rate limits. Secrets come from env vars or ``*_file`` paths."""

    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    encryption_key: SecretStr | None = None
    encryption_key_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    console_session_minutes: int = 480  # absolute lifetime of a console session
    console_idle_minutes: int = 30  # a console session unused this long ends
    portal_token_minutes: int = 30
    unsubscribe_link_days: int = 60
    signin_per_minute: int = 10
    webhook_per_second: int = 50
    oidc: OidcSettings = OidcSettings()


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days (0 = keep forever)."""

    message_bodies_days: int = 365
    raw_inbound_days: int = 90
    audit_days: int = 2192
    deceased_records_days: int = 3653
    portal_codes_days: int = 1
    expired_tokens_days: int = 90
    other_days: dict[str, int] = Field(default_factory=dict)


class JobsSettings(BaseModel):
    """Periodic jobs, run by every ``careloop worker`` (and by ``careloop serve`` when it runs
    its in-process worker); a lease in the database lets one process run each job per period.
    Periods are minutes; 0 turns a job off."""

    enabled: bool = True
    outreach_tick_minutes: float = Field(default=5.0, ge=0)
    """Enroll the newly eligible, queue due journey steps, learn from resolved rewards."""
    escalations_minutes: float = Field(default=1.0, ge=0)
    """Escalate unacknowledged alerts past their deadline."""
    missing_data_minutes: float = Field(default=1440.0, ge=0)
    """Nudge patients whose device readings stopped, then raise call tasks."""
    retention_purge_minutes: float = Field(default=1440.0, ge=0)
    """Delete what is older than its retention period (aggregates are kept)."""
    lease_minutes: float = Field(default=30.0, gt=0)
    """A job whose process died is run again by another process after this long."""
    ready_worker_minutes: float = Field(default=10.0, gt=0)
    """``/ready`` fails when no process has started a job for this long."""


class Settings(BaseSettings):
    """All settings; one instance per process, built by :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    database: DatabaseSettings = DatabaseSettings()
    records: RecordsSettings = RecordsSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    channels: ChannelsSettings = ChannelsSettings()
    security: SecuritySettings = SecuritySettings()
    retention: RetentionSettings = RetentionSettings()
    jobs: JobsSettings = JobsSettings()

    @property
    def resolved_database_url(self) -> str:
        """``CARELOOP_DATABASE_URL`` wins over the nested ``database.url``."""
        return self.database_url or self.database.url

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
