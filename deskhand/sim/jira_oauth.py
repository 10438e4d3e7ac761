"""Atlassian's OAuth 2.0 (3LO) for the Jira simulator (FACTS.md §2.1), on the generic authorisation server.

One simulator plays every Atlassian host: `/authorize` (auth.atlassian.com; `audience=api.atlassian.com`
required), `/oauth/token` (code exchange and refresh; refresh tokens rotate — the one sent dies, a
replayed one revokes the grant; unused for 90 days or a year after consent they expire; bad grants
answer 403 `invalid_grant`), `/oauth/token/accessible-resources`
(api.atlassian.com: the sites the grant reaches, with its scopes) and the API gateway
`/ex/jira/{cloudid}/rest/...`, which takes only 3LO Bearer tokens and enforces the classic scopes each
call needs (`SCOPES`, from the operations' "OAuth 2.0 scopes required" in Jira's REST reference): a call
outside the grant answers 401 `{"code": 401, "message": "Unauthorized; scope does not match"}`, as the
gateway does. Every listed site is served by the simulator's one Jira.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import parse_bearer
from deskhand.sim.oauth_server import AuthServer, ScopeRules, Verdict

AUTHORIZE, TOKEN, RESOURCES = "/authorize", "/oauth/token", "/oauth/token/accessible-resources"
GATEWAY = "/ex/jira/{cloudid}"
DEFAULT_ACCESS_TTL_S = 3600.0  # 1 hour
REFRESH_INACTIVITY_S = 90 * 86400.0  # a rotating refresh token unused for 90 days expires
REFRESH_ABSOLUTE_S = 365 * 86400.0  # and none is refreshed a year after the consent
DEFAULT_CLOUD_ID = "1324a887-45db-1bf4-1e99-ef0ff456d421"

# (method, path under the site's API, scopes any one of which allows it); first match wins
SCOPES = ScopeRules([
    ("GET", r"/rest/api/[^/]+/(myself|user|users)(/|$)", "read:jira-user"),
    ("*", r"/rest/api/[^/]+/(search|search/jql|search/approximate-count)$", "read:jira-work"),
    ("GET", r"/rest/api/", "read:jira-work"),
    ("WRITE", r"/rest/api/", "write:jira-work"),
    ("GET", r"/rest/servicedeskapi/", "read:servicedesk-request"),
    ("WRITE", r"/rest/servicedeskapi/", "write:servicedesk-request"),
])


@dataclass(frozen=True)
class Site:
    cloud_id: str
    name: str  # the NAME of NAME.atlassian.net

    def resource(self, scopes: list[str]) -> dict[str, Any]:
        return {"id": self.cloud_id, "url": f"https://{self.name}.atlassian.net", "name": self.name,
                "scopes": scopes, "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/"
                                              "site.png"}


class AtlassianAuth:
    """The authorisation server (`server`) plus the sites a grant reaches (every grant reaches them all)."""

    def __init__(self, clients: dict[str, str], *, sites: list[Site] | None = None,
                 clock: Callable[[], float] = time.time, **options: Any) -> None:
        options.setdefault("access_ttl_s", DEFAULT_ACCESS_TTL_S)
        options.setdefault("refresh_ttl_s", REFRESH_INACTIVITY_S)
        options.setdefault("grant_ttl_s", REFRESH_ABSOLUTE_S)
        self.server = AuthServer(clients, clock=clock, error_status=403, access_dies_on_refresh=False,
                                 authorize_requires={"audience": "api.atlassian.com"}, **options)
        self.sites = list(sites or [Site(DEFAULT_CLOUD_ID, "acme")])

    def site(self, cloud_id: str) -> Site | None:
        return next((s for s in self.sites if s.cloud_id == cloud_id), None)

    def check(self, request: Request, cloud_id: str, path: str) -> Verdict:
        return self.server.check(parse_bearer(request.headers.get("authorization")), request.method, path, SCOPES)

    def routes(self) -> list[Route]:
        async def resources(request: Request) -> Response:
            grant = self.server.live_grant(parse_bearer(request.headers.get("authorization")))
            if grant is None:
                return gateway_error(401, "Unauthorized")
            return JSONResponse([s.resource(sorted(grant.scopes())) for s in self.sites])

        return [*self.server.routes(AUTHORIZE, TOKEN, None), Route(RESOURCES, resources, methods=["GET"])]


def gateway_error(status: int, message: str) -> JSONResponse:
    """The API gateway's own error shape (not Jira's errorMessages)."""
    return JSONResponse({"code": status, "message": message}, status_code=status)


def gateway_refusal(verdict: Verdict) -> JSONResponse:
    if verdict.problem == "scope":
        return gateway_error(401, "Unauthorized; scope does not match")
    return gateway_error(401, "Unauthorized")
