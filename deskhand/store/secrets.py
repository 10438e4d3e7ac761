"""Secrets at rest: account connection values are sealed with Fernet (AES-128-CBC + HMAC).

The key comes from DESKHAND_SECRET_KEY, or else from a key file created once beside the store
(mode 0600). Losing the key makes stored credentials unreadable: `deskhand connect` again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from deskhand.errors import ConfigError

KEY_FILE = "deskhand.key"


class SecretBox:
    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
            self._key = key.encode() if isinstance(key, str) else bytes(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "DESKHAND_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    @classmethod
    def open(cls, key: str | None, data_dir: Path) -> SecretBox:
        if key:
            return cls(key)
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` (e.g. signing console sessions), derived from this box's key."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def seal(self, values: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode())

    def unseal(self, token: bytes) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ConfigError(
                "stored credentials cannot be decrypted with this secret key "
                "(DESKHAND_SECRET_KEY or deskhand.key changed?): run deskhand connect again"
            ) from exc
        return data
