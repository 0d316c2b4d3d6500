"""Settings from the environment, and the monitors-as-code loader (config.loader)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings: UPSTATE_<NAME> variables, or UPSTATE_<NAME>_FILE for secrets."""

    model_config = SettingsConfigDict(env_prefix="UPSTATE_", extra="ignore")

    config: str | None = None
    region: str = "local"
    database_url: str = "sqlite:///./data/upstate.db"
