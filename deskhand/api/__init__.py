"""The unified API (`/v1`): pydantic models (deskhand.api.models), one scope dependency
(deskhand.api.auth.require), problem documents (deskhand.api.problems) and one router per resource.

`mount(app)` adds all of it to a FastAPI app whose `app.state.rt` is a Runtime (the gateway does).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from deskhand.api import decisions, directory, docs, problems, proxy, review, tickets

ROUTERS: tuple[APIRouter, ...] = (tickets.router, directory.router, decisions.router, review.router, proxy.router,
                                   docs.router)


def mount(app: FastAPI) -> None:
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)


__all__ = ["ROUTERS", "mount"]
