"""HTTP plumbing shared by the Jira simulator's routes: the simulator object, auth, limits, errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deskhand.sim.base import base_url, parse_basic_auth, parse_bearer
from deskhand.sim.jira_limits import Limiter, points_for
from deskhand.sim.jira_oauth import GATEWAY, AtlassianAuth, gateway_error, gateway_refusal
from deskhand.sim.jira_render import Renderer
from deskhand.sim.jira_state import Issue, JiraState, User
from deskhand.sim.jira_webhooks import Webhooks

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Handler = Callable[["Call"], Any]


@dataclass
class JiraSim:
    """One running simulator: state + the token it accepts + limits + webhooks + clock."""

    state: JiraState
    token: str
    limiter: Limiter
    webhooks: Webhooks
    clock: Clock = time.time
    oauth: AtlassianAuth | None = None  # 3LO: the authorisation server and the API gateway's sites

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


class HttpError(Exception):
    def __init__(self, status: int, *messages: str, errors: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(messages[0] if messages else str(errors))
        self.status = status
        self.messages = list(messages)
        self.errors = errors or {}
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"errorMessages": self.messages, "errors": self.errors}, self.status,
                            headers=self.headers)


def not_found_issue() -> HttpError:
    return HttpError(404, "Issue does not exist or you do not have permission to see it.")


@dataclass
class Call:
    """What a handler gets: the request, its parsed JSON body, the caller, a renderer, the sim."""

    request: Request
    sim: JiraSim
    user: User
    body: Any
    render: Renderer
    points: int = 0

    @property
    def version(self) -> str:
        return self.render.version

    def param(self, name: str, default: str | None = None) -> str | None:
        value = self.request.query_params.get(name)
        return default if value is None or value == "" else value

    def int_param(self, name: str, default: int, *, low: int = 0, high: int = 1_000_000) -> int:
        raw = self.param(name)
        if raw is None:
            return default
        try:
            return max(low, min(high, int(raw)))
        except ValueError as exc:
            raise HttpError(400, f"The value '{raw}' is invalid for parameter '{name}'.") from exc

    def issue(self, id_or_key: str | None = None) -> Issue:
        key = id_or_key or self.request.path_params.get("key", "")
        issue = self.sim.state.issue(key)
        if issue is None:
            raise not_found_issue()
        return issue


def authenticate(sim: JiraSim, request: Request) -> User:
    header = request.headers.get("authorization")
    basic = parse_basic_auth(header)
    user: User | None = None
    if basic is not None and basic[1] == sim.token:
        user = sim.state.user_by_email(basic[0])
    elif parse_bearer(header) == sim.token:
        user = next(iter(sim.state.users.values()), None)
    if user is None:
        raise HttpError(401, "Client must be authenticated to access this resource.",
                        headers={"WWW-Authenticate": 'Basic realm="protected-by-api-token"'})
    return user


def endpoint(handler: Handler, *, auth: bool = True, write_issue: bool = False) -> Callable[
        [Request], Awaitable[Response]]:
    """Wrap a sync handler: version check, auth, burst/per-issue/points limits, errors, headers."""

    async def run(request: Request) -> Response:
        sim: JiraSim = request.app.state.sim
        base, gateway_user = base_url(request), None
        cloud_id = request.path_params.get("cloudid")
        if cloud_id is not None:  # api.atlassian.com/ex/jira/{cloudid}/…: a 3LO Bearer token, its scopes
            if sim.oauth is None or sim.oauth.site(cloud_id) is None:
                return gateway_error(404, "Not Found")
            prefix = GATEWAY.format(cloudid=cloud_id)
            granted = sim.oauth.check(request, cloud_id, request.url.path.removeprefix(prefix))
            if not granted.ok:
                return gateway_refusal(granted)
            base += prefix
            gateway_user = next(u for u in sim.state.users.values() if u.account_type == "atlassian")
        version = request.path_params.get("version", "3")
        if version not in ("2", "3", "latest"):
            return JSONResponse({"errorMessages": ["Not found"], "errors": {}}, 404)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return HttpError(400, "Unexpected character in the JSON body.").response()
        issue_id = None
        if write_issue:
            found = sim.state.issue(request.path_params.get("key", ""))
            issue_id = found.id if found else None
        verdict = sim.limiter.check(request.method, request.url.path, issue_id)
        if not verdict.allowed:
            return JSONResponse({"errorMessages": ["Rate limit exceeded."], "errors": {}}, 429,
                                headers=verdict.headers)
        try:
            if gateway_user is not None:
                user = gateway_user
            else:
                user = authenticate(sim, request) if auth else next(iter(sim.state.users.values()))
            call = Call(request, sim, user, body, Renderer(sim.state, base, version))
            with sim.state.lock:
                result = handler(call)
        except HttpError as err:
            response: Response = err.response()
        else:
            response = result if isinstance(result, Response) else JSONResponse(result)
            sim.limiter.charge(call.points or points_for(request.method))
        response.headers.update(verdict.headers)
        return response

    return run


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise HttpError(400, errors={field: message})
