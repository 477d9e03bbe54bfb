"""Keyring: rotation across key changes, bad and missing keys, no key material in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.keyring import NOT_CONFIGURED, Keyring, KeyringError, fingerprint, generate_key


def test_round_trip_and_fresh_tokens() -> None:
    ring = Keyring([generate_key()])
    token = ring.encrypt("hunter2 ✓")
    assert "hunter2" not in token
    assert ring.decrypt(token) == "hunter2 ✓"
    assert ring.encrypt("hunter2 ✓") != token


def test_rotation_across_key_change() -> None:
    old, new = generate_key(), generate_key()
    old_token = Keyring([old]).encrypt("s3cret")

    both = Keyring([new, old])
    assert both.decrypt(old_token) == "s3cret"
    assert both.needs_rotation(old_token)
    rotated = both.rotate(old_token)
    assert rotated != old_token
    assert not both.needs_rotation(rotated)
    assert not both.needs_rotation(both.encrypt("x"))

    new_only = Keyring([new])
    assert new_only.decrypt(rotated) == "s3cret"
    with pytest.raises(KeyringError, match="cannot decrypt: unknown key or corrupted value"):
        new_only.decrypt(old_token)
    with pytest.raises(KeyringError, match="cannot decrypt"):
        new_only.rotate(old_token)
    with pytest.raises(KeyringError, match="cannot decrypt"):
        new_only.needs_rotation(old_token)


def test_newest_key_encrypts() -> None:
    old, new = generate_key(), generate_key()
    token = Keyring([new, old]).encrypt("v")
    assert Keyring([new]).decrypt(token) == "v"
    with pytest.raises(KeyringError):
        Keyring([old]).decrypt(token)


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAA" + "A" * 80, "ünïcode"])
def test_corrupted_token(token: str) -> None:
    with pytest.raises(KeyringError, match="cannot decrypt: unknown key or corrupted value"):
        Keyring([generate_key()]).decrypt(token)


def test_tampered_token() -> None:
    ring = Keyring([generate_key()])
    token = ring.encrypt("value")
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(KeyringError):
        ring.decrypt(flipped)


def test_key_id_is_fingerprint_of_newest() -> None:
    old, new = generate_key(), generate_key()
    ring = Keyring([new, old])
    assert ring.key_id == fingerprint(new)
    assert len(ring.key_id) == 8 and int(ring.key_id, 16) >= 0
    assert ring.key_id != Keyring([old, new]).key_id
    assert new not in repr(ring) and old not in repr(ring)


def test_from_env_newest_first() -> None:
    old, new = generate_key(), generate_key()
    token = Keyring([old]).encrypt("v")
    ring = Keyring.from_settings(f" {new} , {old},", None)
    assert ring.key_id == fingerprint(new)
    assert ring.decrypt(token) == "v"


def test_from_file_skips_comments_and_blanks(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2025-01\n{new}\n\n  # old key\n{old}\n")
    ring = Keyring.from_settings(None, str(path))
    assert ring.key_id == fingerprint(new)
    assert ring.decrypt(Keyring([old]).encrypt("v")) == "v"


def test_bad_key_is_named_by_position_not_echoed() -> None:
    good = generate_key()
    bad = "not-a-valid-fernet-key-but-secret-looking"
    with pytest.raises(KeyringError, match=r"key #2 from HOPFLOW_SECRETS_KEYS") as info:
        Keyring.from_settings(f"{good},{bad}", None)
    assert bad not in str(info.value)
    assert good not in str(info.value)


def test_bad_key_in_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("short\n")
    with pytest.raises(KeyringError, match="not a valid Fernet key") as info:
        Keyring.from_settings(None, str(path))
    assert "short" not in str(info.value)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="cannot read"):
        Keyring.from_settings(None, str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(KeyringError, match="holds no keys"):
        Keyring.from_settings(None, str(empty))
    with pytest.raises(KeyringError, match="holds no keys"):
        Keyring.from_settings(" , ", None)


def test_both_sources_is_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(generate_key())
    with pytest.raises(KeyringError, match="only one"):
        Keyring.from_settings(generate_key(), str(path))


@pytest.mark.parametrize(("env", "file"), [(None, None), ("", ""), ("  ", None)])
def test_unconfigured_starts_but_refuses_use(env: str | None, file: str | None) -> None:
    ring = Keyring.from_settings(env, file)
    assert not ring.configured
    assert NOT_CONFIGURED == ("no secrets key configured: "
                              "set HOPFLOW_SECRETS_KEYS or HOPFLOW_SECRETS_KEY_FILE")
    for call in (lambda: ring.encrypt("x"), lambda: ring.decrypt("x"),
                 lambda: ring.rotate("x"), lambda: ring.key_id):
        with pytest.raises(KeyringError, match="no secrets key configured"):
            call()
