"""The unified API (`/v1`): pydantic models (deskhand.api.models), one scope dependency
(deskhand.api.auth.require), problem documents (deskhand.api.problems) and one router per resource.

`mount(app)` adds all of it to a FastAPI app whose `app.state.rt` is a Runtime (the gateway does).
The routers are imported by `mount`, not with the package: `deskhand keys` (deskhand.api.keys) and
every other CLI command start without loading FastAPI and the whole API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI


def routers() -> tuple[APIRouter, ...]:
    from deskhand.api import (
        decisions,
        directory,
        docs,
        drafting,
        jobs,
        knowledge,
        proxy,
        review,
        subscriptions,
        tickets,
    )

    return (tickets.router, drafting.router, knowledge.router, directory.router, decisions.router, review.router,
            proxy.router, subscriptions.router, jobs.router, docs.router)


def mount(app: FastAPI) -> None:
    from deskhand.api import problems

    problems.install(app)
    for router in routers():
        app.include_router(router)


__all__ = ["mount", "routers"]
