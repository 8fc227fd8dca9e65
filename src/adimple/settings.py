"""Settings from the environment (prefix ``ADIMPLE_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADIMPLE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./adimple.db",
        description="SQLAlchemy URL; postgresql://… uses psycopg 3.",
    )
    timezone: str = "America/Sao_Paulo"
    secret_key: str = Field(
        default="dev-insecure-change-me",
        description="Signs portal links and webhooks; set a long random value in production.",
    )
    encryption_keys: str = Field(
        default="",
        description="Fernet keys for the secrets stored in the database (PSP and channel "
        "credentials), comma-separated, newest first; unset: derived from secret_key.",
    )
    base_url: str = "http://127.0.0.1:8000"
    portal_link_days: int = Field(
        default=30, ge=1, le=90, description="How long a portal link in a message stays valid."
    )
    portal_session_minutes: int = Field(
        default=20, ge=5, le=240, description="Idle timeout of a debtor's portal session."
    )
    db_pool_size: int = 10
    db_echo: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
