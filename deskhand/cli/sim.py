"""`deskhand sim <provider>`: run a faithful local simulator of a helpdesk's API.

One command per simulator in the registry (deskhand.sim.registry): the options every simulator
takes, plus the provider-specific ones its spec declares (``SimSpec.options``).
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Annotated, Any

import typer

from deskhand.cli.apps import sim_app
from deskhand.cli.core import setup_logging
from deskhand.sim import registry

TOKEN_HELP = "The API token the simulator accepts (default deskhand-sim-token)."


def serve(slug: str, *, port: int, host: str, config: registry.SimConfig) -> None:
    """Run the simulator of `slug` in the foreground until Ctrl-C; print how to connect once it listens."""
    from deskhand.sim.base import run_forever

    built = registry.get(slug).build(config)

    def banner(url: str) -> None:
        for line in built.banner(url):
            print(line)

    try:
        run_forever(built.app, host, port, on_ready=banner)
    finally:
        built.close()


def _option(name: str, kind: Any, default: Any, help: str) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, typer.Option(flag, help=help)])


def _command(spec: registry.SimSpec) -> None:
    generic = [
        _option("port", int, spec.port, "Port to listen on."),
        _option("host", str, "127.0.0.1", "Address to listen on."),
        _option("token", str, registry.DEFAULT_TOKEN, TOKEN_HELP),
        _option("webhook_url", str | None, None, "Where to deliver signed webhooks."),
        _option("webhook_secret", str | None, None, "The webhook signing secret."),
        _option("tickets", int, 0, "Seed this many realistic tickets with comments."),
        _option("seed", int, 0, "Random seed of the seeded tickets."),
        _option("rate_limit", int | None, None, spec.rate_limit_help),
    ]
    extras = [_option(o.name, o.type | None if o.default is None else o.type, o.default, o.help)
              for o in spec.options]
    config_fields = {f.name for f in fields(registry.SimConfig)}

    def command(**values: Any) -> None:
        setup_logging("WARNING")
        port, host = values.pop("port"), values.pop("host")
        own = {o.name: values.pop(o.name) for o in spec.options}
        config = registry.SimConfig(**values, **{k: v for k, v in own.items() if k in config_fields},
                                    extras={k: v for k, v in own.items() if k not in config_fields})
        serve(spec.slug, port=port, host=host, config=config)

    params = generic + extras
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = spec.title
    sim_app.command(spec.slug)(command)


for _spec in registry.every():
    _command(_spec)
