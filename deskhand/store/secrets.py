"""Secrets at rest: account connection values, OAuth tokens and webhook secrets are sealed with Fernet
(AES-128-CBC + HMAC).

The keys come from DESKHAND_SECRET_KEY (one key, or several separated by commas), or else from a key
file created once beside the store (mode 0600; one key a line). The first key seals; every key unseals
(cryptography's MultiFernet), which is what lets `deskhand secrets rotate` (deskhand.store.rekey) put a
new key first, re-seal every stored secret under it while every process still reads both, and drop the
old key afterwards. A process that meets a secret its keys cannot open reads the key file again (the
file changed under it), and it re-reads the file before sealing when the file's mtime moved, so every
process seals with the new key soon after a rotation starts. Losing the keys makes stored credentials
unreadable: `deskhand connect` again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from deskhand.errors import ConfigError

KEY_FILE = "deskhand.key"
BAD_KEY = ("DESKHAND_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes; several separated by commas); "
           "generate one with: python -c 'from cryptography.fernet import Fernet; "
           "print(Fernet.generate_key().decode())'")


def parse_keys(text: str | bytes) -> list[bytes]:
    """Keys from an environment value (comma separated) or a key file (one a line), first = sealing key."""
    raw = text.decode() if isinstance(text, bytes) else text
    return [k.strip().encode() for k in raw.replace(",", "\n").splitlines() if k.strip()]


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically (mode 0600): a reader sees the old ring or the new one, never half."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join(keys) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SecretBox:
    def __init__(self, key: bytes | str | Sequence[bytes], *, key_file: Path | None = None) -> None:
        self.key_file = key_file
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._load(parse_keys(key) if isinstance(key, (str, bytes)) else [bytes(k) for k in key])

    def _load(self, keys: list[bytes]) -> None:
        try:
            fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError) as exc:
            raise ConfigError(BAD_KEY) from exc
        if not fernets:
            raise ConfigError(BAD_KEY)
        self.keys, self._primary, self._multi = list(keys), fernets[0], MultiFernet(fernets)

    @classmethod
    def open(cls, key: str | None, data_dir: Path) -> SecretBox:
        if key:
            return cls(key)
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it meanwhile
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key() + b"\n")
        box = cls(path.read_bytes(), key_file=path)
        box._mtime = path.stat().st_mtime
        return box

    def reload(self) -> bool:
        """Read the key file again if it changed; True when the keys changed."""
        if self.key_file is None:
            return False
        with self._lock:
            try:
                mtime = self.key_file.stat().st_mtime
                keys = parse_keys(self.key_file.read_bytes())
            except OSError:
                return False
            self._mtime = mtime
            if keys == self.keys or not keys:
                return False
            self._load(keys)
            return True

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` (e.g. signing console sessions), derived from the sealing key."""
        return hmac.new(self.keys[0], purpose.encode(), hashlib.sha256).digest()

    def derive_all(self, purpose: str) -> list[bytes]:
        """`derive` for every key, oldest first (a verifier that accepts what the old key signed)."""
        return [hmac.new(k, purpose.encode(), hashlib.sha256).digest() for k in reversed(self.keys)]

    def seal(self, values: dict[str, Any]) -> bytes:
        if self.key_file is not None:
            try:
                if self.key_file.stat().st_mtime != self._mtime:
                    self.reload()  # a rotation put a new key first: seal with it
            except OSError:
                pass
        return self._primary.encrypt(json.dumps(values, sort_keys=True).encode())

    def unseal(self, token: bytes) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._decrypt(token))
        except InvalidToken as exc:
            raise ConfigError(
                "stored credentials cannot be decrypted with this secret key "
                "(DESKHAND_SECRET_KEY or deskhand.key changed?): run deskhand connect again"
            ) from exc
        return data

    def _decrypt(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken:
            if not self.reload():  # sealed under a key this process has not read yet (a rotation)?
                raise
            return self._multi.decrypt(token)

    def sealed_by_primary(self, token: bytes) -> bool:
        """Whether the sealing key alone opens it (a rotation re-sealed it, or it was sealed since)."""
        try:
            self._primary.decrypt(token)
        except InvalidToken:
            return False
        return True

    def reseal(self, token: bytes) -> bytes:
        """The same secret sealed under the sealing key (MultiFernet.rotate: readable by any key first)."""
        try:
            return self._multi.rotate(token)
        except InvalidToken:
            if not self.reload():
                raise ConfigError("a stored secret cannot be decrypted with any of the secret keys: it was "
                                  "sealed under a key that is gone; reconnect its account") from None
            return self._multi.rotate(token)
