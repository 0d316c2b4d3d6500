"""Settings from the environment, and the monitors-as-code loader (config.loader)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings: UPSTATE_<NAME> variables, or UPSTATE_<NAME>_FILE for secrets."""

    model_config = SettingsConfigDict(env_prefix="UPSTATE_", extra="ignore")

    config: str | None = None
    region: str = "local"
    database_url: str = "sqlite:///./data/upstate.db"
    # The web server. A non-loopback host needs api_token (a bearer token on the API).
    host: str = "127.0.0.1"
    port: int = 8080
    api_token: SecretStr | None = None
    api_token_file: str | None = None
    # Encrypts monitors' secrets at rest (Fernet key or any long passphrase; several,
    # comma-separated, to rotate: the first encrypts). Without it a key is generated once
    # into secret.key beside the SQLite database, or in data_dir.
    secret_key: SecretStr | None = None
    secret_key_file: str | None = None
    data_dir: str = "./data"
    base_url: str | None = None  # the public URL of this server, for ping URLs
    url: str | None = None  # where CLI commands reach a running server (upstate incident …)
    metrics_public: bool = True  # False: /metrics needs the API token too (when one is set)
    # The default mail server of email channels: smtp://user:pass@host:port (?starttls=true
    # to require STARTTLS, ?starttls=false to refuse it) or smtps:// (TLS from the start).
    smtp_url: SecretStr | None = None
    smtp_url_file: str | None = None
    smtp_from: str | None = None  # the sender of email channels that name none

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        """UPSTATE_<NAME>_FILE (Docker and systemd credentials) when the value is not set."""
        for name in ("api_token", "secret_key", "smtp_url"):
            path = getattr(self, f"{name}_file")
            if getattr(self, name) is None and path:
                try:
                    text = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"cannot read {name}_file {path}: {exc.strerror}") from None
                setattr(self, name, SecretStr(text) if text else None)
        return self
