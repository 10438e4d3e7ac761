"""What CLI commands check before they change anything: names usable in URLs, accounts, providers and
categories that exist, and confirmation of destructive steps.

Every check raises a ``DeskhandError`` whose message names what was wrong and what to do; the
commands turn it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import re
import socket
import sys

import typer

from deskhand.errors import ConfigError, NotFoundError
from deskhand.store import Store

ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def account_name(name: str) -> str:
    """``name`` when it can appear in a webhook URL path (``/webhooks/<provider>/<name>``)."""
    if not ACCOUNT_NAME.fullmatch(name):
        raise ConfigError(
            f"account name {name!r} is not usable in a URL: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. acme-support)"
        )
    return name


def known_account(store: Store, name: str) -> str:
    store.get_account(name)  # NotFoundError naming `deskhand accounts list`
    return name


def known_tenant(store: Store, tenant_id: str) -> str:
    """A tenant that exists (created by `connect --tenant`), or the default one."""
    from sqlalchemy import select

    from deskhand.model import DEFAULT_TENANT
    from deskhand.store.schema import tenants

    if tenant_id == DEFAULT_TENANT:
        return tenant_id
    with store.engine.connect() as conn:
        names = [str(r[0]) for r in conn.execute(select(tenants.c.id).order_by(tenants.c.id))]
    if tenant_id not in names:
        raise NotFoundError(f"no tenant {tenant_id!r} (tenants: {', '.join([DEFAULT_TENANT, *names])}); a tenant "
                            "is created by `deskhand connect … --tenant NAME`")
    return tenant_id


def known_account_or_history(store: Store, name: str) -> str:
    """An account, or one that was removed but still has recorded events (a filter over history)."""
    if store.find_account(name) is None and not store.list_events(account=name, limit=1):
        raise NotFoundError(f"no account named {name!r}: see `deskhand accounts list`")
    return name


def known_provider(slug: str) -> str:
    from deskhand.providers import available_providers

    slugs = available_providers()
    if slug not in slugs:
        raise NotFoundError(f"unknown provider {slug!r}: use one of {', '.join(sorted(slugs))}")
    return slug


def categories(store: Store, account: str | None) -> list[str]:
    """Categories triage can give: the seed taxonomy's, plus the account's own trained taxonomy's."""
    from deskhand.ai.triage import load_seed
    from deskhand.store.taxonomies import load_taxonomy

    found = {row["category"] for row in load_seed()}
    if account is not None:
        stored = load_taxonomy(store, account)
        if stored is not None:
            found |= set(stored.categories)
    return sorted(found)


def known_category(store: Store, account: str | None, category: str) -> str:
    names = categories(store, account)
    if category not in names:
        raise NotFoundError(f"unknown category {category!r}: use one of {', '.join(names)}")
    return category


def interactive() -> bool:
    """True when a person can answer a question on this terminal."""
    return sys.stdin.isatty()


def confirm(question: str, *, yes: bool) -> None:
    """Go on when ``--yes`` was given or a person answers yes; otherwise stop (exit 2, one line)."""
    if yes:
        return
    if not interactive():
        raise ConfigError(f"{question} — not a terminal: add --yes to confirm")
    if not typer.confirm(question, default=False):
        raise ConfigError("cancelled: nothing was changed")


def free_port(host: str, port: int) -> None:
    """Refuse, in one line, a host:port something else already listens on (before a server starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another deskhand or "
                              "service using it?): choose another --port") from exc
