"""Encryption of secrets at rest: Fernet keys, newest first, so keys can rotate without downtime.

The newest key encrypts; every listed key decrypts. To rotate: put a new key first, re-encrypt
stored values with `rotate` (or lazily, when `needs_rotation` says so), then drop the old key.
Key material never appears in messages, reprs or logs; only `key_id` (a fingerprint) does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_KEYS = "HOPFLOW_SECRETS_KEYS"
ENV_KEY_FILE = "HOPFLOW_SECRETS_KEY_FILE"
NOT_CONFIGURED = f"no secrets key configured: set {ENV_KEYS} or {ENV_KEY_FILE}"
UNDECRYPTABLE = "cannot decrypt: unknown key or corrupted value"


class KeyringError(Exception):
    """A key is bad or missing, or a value cannot be decrypted; the message never holds a key."""


def generate_key() -> str:
    """A fresh Fernet key, for `hopflow` setup and for tests."""
    return Fernet.generate_key().decode()


def fingerprint(key: str) -> str:
    """Short public id of a key: lets operators tell keys apart without seeing them."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:8]


class Keyring:
    """Fernet keys, newest first; an empty keyring is valid but refuses to encrypt or decrypt."""

    def __init__(self, keys: Sequence[str], *, source: str = "keys") -> None:
        self._keys = [key.strip() for key in keys]
        self._fernets: list[Fernet] = []
        for position, key in enumerate(self._keys, start=1):
            try:
                self._fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise KeyringError(
                    f"secrets key #{position} from {source} is not a valid Fernet key "
                    "(expected 32 url-safe base64-encoded bytes; make one with generate_key())"
                ) from None
        self._multi = MultiFernet(self._fernets) if self._fernets else None

    @classmethod
    def from_settings(cls, env_value: str | None, file_path: str | None) -> Keyring:
        """Keys from `HOPFLOW_SECRETS_KEYS` or `HOPFLOW_SECRETS_KEY_FILE`; none is not an error.

        Workers must start without a key; only secret reads and writes fail, with a clear
        message. Setting both sources is ambiguous (which key is newest?) and is refused.
        """
        env_value = env_value if env_value and env_value.strip() else None
        file_path = file_path if file_path and file_path.strip() else None
        if env_value and file_path:
            raise KeyringError(f"set only one of {ENV_KEYS} and {ENV_KEY_FILE}")
        if env_value:
            keys = [part.strip() for part in env_value.split(",") if part.strip()]
            if not keys:
                raise KeyringError(f"{ENV_KEYS} holds no keys")
            return cls(keys, source=ENV_KEYS)
        if file_path:
            return cls(_read_key_file(file_path), source=f"{ENV_KEY_FILE} ({file_path})")
        return cls([])

    @property
    def configured(self) -> bool:
        return self._multi is not None

    @property
    def key_id(self) -> str:
        """Fingerprint of the newest key: stored next to values to audit which key wrote them."""
        self._require()
        return fingerprint(self._keys[0])

    def encrypt(self, plaintext: str) -> str:
        return self._require().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        multi = self._require()
        try:
            return multi.decrypt(_token_bytes(token)).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise KeyringError(UNDECRYPTABLE) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (the original timestamp is kept)."""
        multi = self._require()
        try:
            return multi.rotate(_token_bytes(token)).decode()
        except InvalidToken:
            raise KeyringError(UNDECRYPTABLE) from None

    def needs_rotation(self, token: str) -> bool:
        """True if an older key wrote `token`; checks HMACs only, decrypts nothing."""
        self._require()
        raw = _token_bytes(token)
        for position, fernet in enumerate(self._fernets):
            try:
                fernet.extract_timestamp(raw)
            except InvalidToken:
                continue
            return position > 0
        raise KeyringError(UNDECRYPTABLE)

    def _require(self) -> MultiFernet:
        if self._multi is None:
            raise KeyringError(NOT_CONFIGURED)
        return self._multi

    def __repr__(self) -> str:
        if not self.configured:
            return "Keyring(unconfigured)"
        return f"Keyring(keys={len(self._keys)}, key_id={self.key_id})"


def _read_key_file(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(f"cannot read {ENV_KEY_FILE} {path}: {type(exc).__name__}") from None
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(line)
    if not keys:
        raise KeyringError(f"{ENV_KEY_FILE} {path} holds no keys")
    return keys


def _token_bytes(token: str) -> bytes:
    try:
        return token.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        raise KeyringError(UNDECRYPTABLE) from None
