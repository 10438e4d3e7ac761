"""/v1/webhooks: a tenant's outbound webhook endpoints (admin keys): create (the signing secret is
shown once), list, delete, enable again after it was disabled, and the messages sent to each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response

from deskhand import outbound
from deskhand.api import models as m
from deskhand.api.auth import require, runtime
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS, not_found
from deskhand.errors import NotFoundError
from deskhand.runtime import Runtime

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEMS)
Admin = Annotated[Principal, Depends(require("admin"))]
Rt = Annotated[Runtime, Depends(runtime)]
EndpointId = Annotated[str, Path(max_length=40)]


def _when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _endpoint(e: dict[str, Any]) -> dict[str, Any]:
    return {**{k: e[k] for k in ("id", "url", "events", "status", "disabled_reason")},
            "failing_since": _when(e["failing_since"]), "created_at": _when(e["created_at"])}


def _get(rt: Runtime, who: Principal, endpoint_id: str) -> dict[str, Any]:
    try:
        return outbound.get_endpoint(rt, who.tenant_id, endpoint_id)
    except NotFoundError as exc:
        raise not_found(f"webhook endpoint {endpoint_id!r}") from exc


@router.post("", response_model=m.WebhookEndpointCreated, status_code=201,
             summary="Subscribe an endpoint to event types (the secret is shown once)")
def create(who: Admin, rt: Rt, body: Annotated[m.WebhookEndpointCreate, Body()]) -> m.WebhookEndpointCreated:
    endpoint_id, secret = outbound.create_endpoint(rt, who.tenant_id, body.url, list(body.events))
    return m.WebhookEndpointCreated(**_endpoint(_get(rt, who, endpoint_id)), secret=secret)


@router.get("", response_model=m.Page[m.WebhookEndpoint], summary="The tenant's endpoints")
def list_all(who: Admin, rt: Rt) -> m.Page[m.WebhookEndpoint]:
    return m.Page[m.WebhookEndpoint](data=[m.WebhookEndpoint(**_endpoint(e))
                                           for e in outbound.list_endpoints(rt, who.tenant_id)])


@router.delete("/{endpoint_id}", status_code=204, response_class=Response,
               summary="Unsubscribe (pending messages dropped)")
def remove(who: Admin, rt: Rt, endpoint_id: EndpointId) -> Response:
    _get(rt, who, endpoint_id)
    outbound.delete_endpoint(rt, who.tenant_id, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/enable", response_model=m.WebhookEndpoint, summary="Enable a disabled endpoint")
def enable(who: Admin, rt: Rt, endpoint_id: EndpointId) -> m.WebhookEndpoint:
    _get(rt, who, endpoint_id)
    outbound.enable_endpoint(rt, who.tenant_id, endpoint_id)
    return m.WebhookEndpoint(**_endpoint(_get(rt, who, endpoint_id)))


@router.get("/{endpoint_id}/messages", response_model=m.Page[m.WebhookMessage],
            summary="Messages for one endpoint, newest first")
def list_messages(who: Admin, rt: Rt, endpoint_id: EndpointId,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> m.Page[m.WebhookMessage]:
    _get(rt, who, endpoint_id)
    rows = outbound.messages(rt, who.tenant_id, endpoint_id, limit)
    return m.Page[m.WebhookMessage](data=[m.WebhookMessage(
        **{k: r[k] for k in ("id", "endpoint_id", "event_type", "status", "attempts", "last_status", "last_error")},
        created_at=_when(r["created_at"]), delivered_at=_when(r["delivered_at"])) for r in rows])
