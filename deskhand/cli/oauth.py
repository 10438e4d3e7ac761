"""`deskhand connect <slug> --oauth PUBLIC_URL`: print the authorise URL (state + PKCE) to open in a
browser; the gateway's /oauth/callback/<slug> finishes the connection (deskhand.providers.oauth_connect)."""

from __future__ import annotations

from deskhand.errors import DeskhandError
from deskhand.model import DEFAULT_TENANT


def connect_oauth(args: list[str], provider: str, name: str, tenant: str | None, setting: list[str],
                  set_: list[str], public_url: str) -> None:
    from deskhand.cli import secret_args
    from deskhand.cli.apps import out
    from deskhand.cli.checks import account_name, known_provider
    from deskhand.cli.core import _check_settings, _parse_connection, _parse_setting, fail, runtime
    from deskhand.cli.overrides import account_overrides
    from deskhand.providers.oauth_connect import callback_url, oauth_fields, start

    try:
        account_name(name)
        fields = oauth_fields(known_provider(provider))  # e.g. Atlassian's --site is optional
        rt = runtime()
        old = rt.store.find_account(name)
        if old is not None and old.provider != provider:
            raise DeskhandError(f"account {name!r} is a {old.provider} account; pick another --name")
        tenant = tenant or (old.tenant_id if old else DEFAULT_TENANT)
        base = {k: v for k, v in (old.config if old else {}).items() if k in fields}  # reconnect keeps them
        config = _parse_connection(secret_args.resolve(args, fields), fields, base=base)
        settings = dict(_parse_setting(s) for s in setting)
        overrides = account_overrides(provider, old.overrides if old else {}, set_)
        _check_settings(rt.store, name, {**(old.settings if old else {}), **settings})
        url = start(rt, provider, name, config, public_url=public_url, tenant=tenant, settings=settings,
                    overrides=overrides)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"open this URL to authorise deskhand on {provider} for account [bold]{name}[/bold] "
              f"(valid 15 minutes):", highlight=False)
    out.print(url, soft_wrap=True, highlight=False, markup=False)
    out.print(f"{provider} then redirects to {callback_url(public_url, provider)}, which finishes the connection "
              "(the gateway must be running there).", soft_wrap=True, highlight=False)
