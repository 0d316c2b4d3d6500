from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.services.secrets import (
    MASK,
    SecretBox,
    SecretKeyError,
    key_path,
    load_secret_box,
    present,
    redact_url,
    seal,
    unseal,
)


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/db/upstate.db", **values)


def test_it_generates_a_private_key_file_once_beside_the_database(tmp_path: Path) -> None:
    first = load_secret_box(settings(tmp_path))
    path = tmp_path / "db" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.encrypt("hello")
    assert load_secret_box(settings(tmp_path)).decrypt(token) == "hello"


def test_it_keeps_the_key_in_the_data_dir_without_a_sqlite_file(tmp_path: Path) -> None:
    pg = Settings(_env_file=None, database_url="postgresql://u@127.0.0.1/x", data_dir=str(tmp_path))
    assert key_path(pg) == tmp_path / "secret.key"


def test_it_takes_a_passphrase_and_rotates_keys(tmp_path: Path) -> None:
    old = load_secret_box(settings(tmp_path, secret_key=SecretStr("an old passphrase here")))
    sealed = old.encrypt("pw")
    new_key = SecretBox.new_key()
    rotated = SecretBox.from_text(f"{new_key}, an old passphrase here")
    assert rotated.decrypt(sealed) == "pw"
    assert SecretBox.from_text(new_key).decrypt(rotated.encrypt("pw")) == "pw"
    with pytest.raises(SecretKeyError):
        SecretBox.from_text(new_key).decrypt(sealed)
    with pytest.raises(SecretKeyError, match="too short"):
        SecretBox.from_text("short")
    assert not (tmp_path / "db" / "secret.key").exists()


def test_it_seals_every_secret_field_and_shows_none() -> None:
    config = load_config_text(
        """
monitors:
  - key: api
    kind: http
    url: https://u:url-pw@example.com/
    headers: {A: h-secret}
    auth: {bearer: b-secret}
  - {key: job, kind: push, period: 1h, grace: 1m, token: t-secret-0123456789}
"""
    )
    box = SecretBox.from_text(SecretBox.new_key())
    for model in config.monitors:
        sealed = seal(model, box)
        shown = str(present(sealed))
        for secret in ("h-secret", "b-secret", "t-secret"):
            assert secret not in str(sealed)  # URLs are no secret fields: stored as given
        for secret in ("url-pw", "h-secret", "b-secret", "t-secret"):
            assert secret not in shown
        assert type(model).model_validate(unseal(sealed, box)) == model
    assert MASK in str(present(seal(config.monitors[0], box)))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example/x?y=1", f"https://u:{MASK}@h.example/x?y=1"),
        ("https://u@h.example/", "https://u@h.example/"),
        ("https://h.example/a@b", "https://h.example/a@b"),
        ("not a url @ all", "not a url @ all"),
        ("http://u:p@[::1]:80/", f"http://u:{MASK}@[::1]:80/"),
    ],
)
def test_it_masks_passwords_in_urls(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_derived_keys_are_stable_per_purpose_and_never_the_key() -> None:
    key = SecretBox.new_key()
    box, again = SecretBox.from_text(key), SecretBox.from_text(key)
    assert box.derive("cookie") == again.derive("cookie")
    assert box.derive("cookie") != box.derive("other")
    assert box.derive("cookie") != SecretBox.from_text(SecretBox.new_key()).derive("cookie")
    assert key.encode() not in box.derive("cookie")
    assert len(box.derive("cookie")) == 32
