"""Monitors' secrets at rest, and out of every answer.

A monitor's stored definition is its config model dumped to JSON. Every SecretStr field
(passwords, bearer tokens, header values, ping tokens) is stored as `{"$secret": <Fernet
token>}` instead of its text, so a database dump or backup shows no credential. The key
comes from UPSTATE_SECRET_KEY (or _FILE); without one it is generated once into
`secret.key` (mode 0600) beside the SQLite database, or in UPSTATE_DATA_DIR. Several
comma-separated keys rotate: the first encrypts, any of them decrypts.

What the API shows is `present(definition)`: each secret as MASK, and the password of any
URL (`https://user:pass@host`) masked too, since URLs may carry credentials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url

from upstate.config import Settings
from upstate.errors import UpstateError

logger = logging.getLogger(__name__)

MARKER = "$secret"
MASK = "**********"
KEY_FILE = "secret.key"

JsonPath = tuple[str | int, ...]


class SecretKeyError(UpstateError):
    """The secret key is missing, malformed, or not the one the secrets were sealed with."""

    http_status = 500


class SecretBox:
    """Fernet encryption with one or more keys (the first encrypts)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key given")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._primary = bytes(keys[0])

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` (e.g. signing cookies), derived from the primary
        key: stable across restarts and replicas, never the key itself."""
        return hmac.new(self._primary, b"upstate derive\0" + purpose.encode(), "sha256").digest()

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """Comma-separated keys: each a Fernet key, or any other text (hashed into one)."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return cls([_fernet_key(part) for part in parts])

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise SecretKeyError(
                "a stored secret cannot be decrypted: UPSTATE_SECRET_KEY is not the key it "
                "was written with (to rotate, give the new key first, then the old one)"
            ) from None


def _fernet_key(text: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(text.encode())) == 32:
            return text.encode()
    except (binascii.Error, ValueError):
        pass
    if len(text) < 16:
        raise SecretKeyError("UPSTATE_SECRET_KEY is too short: use at least 16 characters")
    digest = hashlib.sha256(b"upstate secret key\0" + text.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for this process: the configured key, else the generated key file."""
    if settings.secret_key is not None:
        return SecretBox.from_text(settings.secret_key.get_secret_value())
    return SecretBox.from_text(_key_from_file(key_path(settings)))


def key_path(settings: Settings) -> Path:
    """Where a generated key lives: beside a SQLite database file, else in data_dir."""
    url = make_url(settings.database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        return Path(database).parent / KEY_FILE
    return Path(settings.data_dir) / KEY_FILE


def _key_from_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SecretKeyError(f"cannot read the secret key {path}: {exc.strerror}") from None
    key = SecretBox.new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of two processes starting at once, one writes and both read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretKeyError(f"cannot create the secret key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    logger.warning("secret key generated path=%s (back it up with the database)", path)
    return key


def secret_paths(value: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, SecretStr]]:
    """Where in a model's by-alias JSON dump each SecretStr of the model sits."""
    if isinstance(value, SecretStr):
        yield path, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from secret_paths(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_paths(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from secret_paths(item, (*path, index))


def plain_json(model: BaseModel) -> dict[str, Any]:
    """The model's JSON dump (by alias, so it validates again) with its secrets in clear."""
    data = model.model_dump(mode="json", by_alias=True)
    for path, secret in secret_paths(model):
        _put(data, path, secret.get_secret_value())
    return data


def seal(model: BaseModel, box: SecretBox) -> dict[str, Any]:
    """The model's JSON dump with each secret encrypted: what the store keeps."""
    data = model.model_dump(mode="json", by_alias=True)
    for path, secret in secret_paths(model):
        _put(data, path, {MARKER: box.encrypt(secret.get_secret_value())})
    return data


def unseal(data: Any, box: SecretBox) -> Any:
    """A stored definition with every sealed secret decrypted (ready to validate)."""
    if isinstance(data, dict):
        if _is_sealed(data):
            return box.decrypt(data[MARKER])
        return {key: unseal(item, box) for key, item in data.items()}
    if isinstance(data, list):
        return [unseal(item, box) for item in data]
    return data


def has_secrets(data: Any) -> bool:
    if isinstance(data, dict):
        return _is_sealed(data) or any(has_secrets(item) for item in data.values())
    if isinstance(data, list):
        return any(has_secrets(item) for item in data)
    return False


def present(data: Any) -> Any:
    """What may be shown: sealed secrets as MASK, URL passwords masked."""
    if isinstance(data, dict):
        if _is_sealed(data):
            return MASK
        return {key: present(item) for key, item in data.items()}
    if isinstance(data, list):
        return [present(item) for item in data]
    if isinstance(data, str):
        return redact_url(data)
    return data


def redact_url(text: str) -> str:
    """`scheme://user:password@host/…` with the password masked; other text unchanged."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:{MASK}@{host}"))


def redact_all(data: Any) -> Any:
    """Every string of a JSON value passed through redact_url (for probe results)."""
    if isinstance(data, dict):
        return {key: redact_all(item) for key, item in data.items()}
    if isinstance(data, list):
        return [redact_all(item) for item in data]
    if isinstance(data, str):
        return redact_url(data)
    return data


def _is_sealed(data: dict[str, Any]) -> bool:
    return len(data) == 1 and isinstance(data.get(MARKER), str)


def _put(data: Any, path: JsonPath, value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
