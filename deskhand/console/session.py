"""Console sessions: a signed cookie (HMAC-SHA256 under a key derived from the store's secret key)
carrying the username, an expiry and a random nonce; the CSRF token of a session is an HMAC of its
nonce, so every form carries it and a cross-site POST (which cannot read it) is refused.

Before login, the login form's CSRF token is a random value also set as a cookie (double submit).
The cookie is HttpOnly and SameSite=Lax (Secure when the request came over HTTPS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "deskhand_console"
LOGIN_CSRF_COOKIE = "deskhand_console_login"
LIFETIME_S = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    nonce: str
    expires: int


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"deskhand console session\0" + key).digest()

    def _mac(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, data, hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, username: str, *, now: float | None = None) -> str:
        at = int(time.time() if now is None else now)
        payload = json.dumps({"u": username, "n": secrets.token_urlsafe(16), "x": at + LIFETIME_S},
                             separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(payload)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie when its signature holds and it has not expired; else None."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data = json.loads(payload)
            session = Session(str(data["u"]), str(data["n"]), int(data["x"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return session if session.expires > (time.time() if now is None else now) else None

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf\0" + session.nonce.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))
