"""The web console at /console: server-rendered pages for the humans beside the responder (review
queue, decisions, kill switches), logged in as local users (`deskhand users create`). A client of
the same functions as the unified API (deskhand.responder.review, deskhand.responder.switches).

`mount(app)` adds it to the gateway's FastAPI app (whose `app.state.rt` is a Runtime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    from deskhand.console import accounts, controls, decisions, jobs, oauth, outcomes, pages, switches, web

    web.install(app)
    app.include_router(pages.router)
    app.include_router(decisions.router)
    app.include_router(oauth.router)  # before accounts: /accounts/connect is not an account
    app.include_router(accounts.router)
    app.include_router(switches.router)
    app.include_router(controls.router)
    app.include_router(jobs.router)
    app.include_router(outcomes.router)


__all__ = ["mount"]
