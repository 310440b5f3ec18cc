"""Typed settings grouped by concern, loaded once by a factory (never at import time).

Values come from the environment (``CARELOOP_...``, nested with ``__``) or a ``.env`` file;
secrets may be given as ``CARELOOP_..._FILE`` paths so they never sit in the process list.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("careloop.db")


class DatabaseSettings(BaseModel):
    """Where the data lives. SQLite file by default; PostgreSQL in production."""

    url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    echo: bool = False
    pool_size: int = 5


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


class Settings(BaseSettings):
    """All settings; one instance per process, built by :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: str | None = None
    database: DatabaseSettings = DatabaseSettings()
    records: RecordsSettings = RecordsSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()

    @property
    def resolved_database_url(self) -> str:
        """``CARELOOP_DATABASE_URL`` wins over the nested ``database.url``."""
        return self.database_url or self.database.url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
