"""How a simulator in the registry gets its OAuth authorisation server (deskhand.sim.oauth_server):
a test passes its own as ``extras["oauth"]``; ``deskhand sim <slug> --oauth-client ID:SECRET`` makes
one for that client, with ``--oauth-access-ttl-s`` as the lifetime of its access tokens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deskhand.sim.oauth_server import AuthServer
from deskhand.sim.registry import SimOption


def auth_server_of(extras: Mapping[str, Any], make: Callable[..., AuthServer]) -> AuthServer | None:
    if extras.get("oauth") is not None:
        return extras["oauth"]  # type: ignore[no-any-return]
    client = extras.get("oauth_client")
    if not client:
        return None
    cid, _, secret = str(client).partition(":")
    if not cid or not secret:
        raise ValueError("--oauth-client takes ID:SECRET")
    ttl = extras.get("oauth_access_ttl_s")
    return make({cid: secret}, **({"access_ttl_s": float(ttl)} if ttl else {}))


def options(authorize: str, token: str, default_ttl_s: float) -> tuple[SimOption, SimOption]:
    return (SimOption("oauth_client", str, None, f"ID:SECRET of an OAuth client: serve {authorize} (auto-approving) "
                      f"and {token}, and accept their Bearer access tokens."),
            SimOption("oauth_access_ttl_s", float, default_ttl_s, "Lifetime of the OAuth access tokens it issues."))
