"""Trello's OAuth 1.0a (FACTS.md §7.1; py-trello's util.py): ``POST /1/OAuthGetRequestToken`` (signed
HMAC-SHA1 with the application's API key and secret, ``oauth_callback``), ``GET /1/OAuthAuthorizeToken``
(auto-approves: 302 to the callback with ``oauth_token`` and ``oauth_verifier``; ``name``, ``scope`` and
``expiration`` as on trello.com) and ``POST /1/OAuthGetAccessToken`` (signed with the request token's
secret, ``oauth_verifier``), which answers a member token usable like any other (``key`` + ``token``),
expiring after 1hour | 1day | 30days or never. Answers are form-encoded; refusals 401 plain text."""

from __future__ import annotations

import secrets
import threading
from typing import Any
from urllib.parse import urlencode

from authlib.oauth1.rfc5849.signature import generate_signature_base_string, hmac_sha1_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from deskhand.sim.trello_state import TrelloState

REQUEST, AUTHORIZE, ACCESS = "/1/OAuthGetRequestToken", "/1/OAuthAuthorizeToken", "/1/OAuthGetAccessToken"
LIFETIMES = {"1hour": 3600.0, "1day": 86_400.0, "30days": 30 * 86_400.0, "never": None}


async def _oauth_request(request: Request) -> OAuth1Request:
    """The request as Authlib's OAuth 1.0a reader sees it (it looks its headers up case-sensitively)."""
    body = (await request.body()).decode("utf-8", "replace")
    headers = {"Authorization": request.headers.get("authorization", ""),
               "Content-Type": request.headers.get("content-type", "")}
    return OAuth1Request(request.method, str(request.url), body, headers)


class OAuth1Server:
    def __init__(self, state: TrelloState, member_id: str) -> None:
        self.state, self.member_id = state, member_id  # whoever approves on the consent page
        self.requests: dict[str, dict[str, Any]] = {}  # request token -> key, secret, callback, verifier …
        self.issued: list[str] = []  # every access token issued, in order
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [Route(REQUEST, self._request_token, methods=["POST"]), Route(AUTHORIZE, self._authorize),
                Route(ACCESS, self._access_token, methods=["POST"])]

    def revoke(self, token: str) -> None:
        """What ``DELETE /1/tokens/{token}`` (or the member's revoking the app) does."""
        with self.state.lock:
            self.state.tokens.pop(token, None)

    async def _signed(self, request: Request, token_secret: str | None) -> OAuth1Request | None:
        signed = await _oauth_request(request)
        secret = self.state.app_secrets.get(signed.client_id or "")
        if not secret or signed.signature_method != "HMAC-SHA1" or not signed.signature:
            return None
        expected = hmac_sha1_signature(generate_signature_base_string(signed), secret, token_secret)
        return signed if secrets.compare_digest(expected, signed.signature) else None

    async def _request_token(self, request: Request) -> Response:
        signed = await self._signed(request, None)
        if signed is None:
            return PlainTextResponse("invalid signature", status_code=401)
        token, secret = secrets.token_hex(16), secrets.token_hex(16)
        with self._lock:
            self.requests[token] = {"key": signed.client_id, "secret": secret, "callback": signed.redirect_uri,
                                    "verifier": None, "expiration": "30days"}
        return Response(urlencode({"oauth_token": token, "oauth_token_secret": secret,
                                   "oauth_callback_confirmed": "true"}), media_type="application/x-www-form-urlencoded")

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        expiration = q.get("expiration", "30days")
        with self._lock:
            pending = self.requests.get(q.get("oauth_token", ""))
            if pending is None or expiration not in LIFETIMES:
                return PlainTextResponse("invalid token" if pending is None else "invalid expiration", 400)
            pending.update(verifier=secrets.token_hex(16), expiration=expiration, scope=q.get("scope", "read"))
        callback = str(pending["callback"] or "")
        query = urlencode({"oauth_token": q["oauth_token"], "oauth_verifier": pending["verifier"]})
        return RedirectResponse(callback + ("&" if "?" in callback else "?") + query, 302)

    async def _access_token(self, request: Request) -> Response:
        request_token = (await _oauth_request(request)).token or ""
        with self._lock:
            pending = self.requests.get(request_token)
        if pending is None:
            return PlainTextResponse("invalid token", status_code=401)
        signed = await self._signed(request, str(pending["secret"]))
        if signed is None or signed.client_id != pending["key"]:
            return PlainTextResponse("invalid signature", status_code=401)
        if not pending["verifier"] or signed.oauth_params.get("oauth_verifier") != pending["verifier"]:
            return PlainTextResponse("invalid verifier", status_code=401)
        with self._lock:
            self.requests.pop(request_token, None)  # a request token works once
        token = "ATTA" + secrets.token_hex(36)
        lifetime = LIFETIMES[str(pending["expiration"])]
        with self.state.lock:
            self.state.tokens[token] = self.member_id
            if lifetime is not None:
                self.state.token_expires[token] = self.state.clock() + lifetime
        self.issued.append(token)
        return Response(urlencode({"oauth_token": token, "oauth_token_secret": secrets.token_hex(16)}),
                        media_type="application/x-www-form-urlencoded")
