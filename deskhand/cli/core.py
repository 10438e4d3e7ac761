"""The `deskhand` command line (typer + rich)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deskhand.cli.apps import (
    JsonOpt,
    accounts_app,
    app,
    decisions_app,
    err,
    events_app,
    kb_app,
    out,
)
from deskhand.errors import ConfigError, DeskhandError, NotFoundError
from deskhand.model import DEFAULT_TENANT

CHATTY_LOGGERS = ("httpx", "httpcore", "urllib3", "asyncio", "hpack", "multipart", "python_multipart", "alembic",
                  "openai", "anthropic", "uvicorn.access", "bm25s", "langdetect")


class _Quiet(logging.Filter):
    """Drops records below the chosen level (some libraries set their own logger to DEBUG on import,
    bm25s does) and, unless debugging, chatty libraries' records below WARNING."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        floor = self.level
        if self.level > logging.DEBUG and record.name.split(".")[0] in CHATTY_LOGGERS:
            floor = max(floor, logging.WARNING)
        return record.levelno >= floor


def setup_logging(level: str = "INFO") -> None:
    """deskhand's own loggers at DESKHAND_LOG_LEVEL (default ``level``); third-party libraries that log
    every request (httpx, urllib3, …) at WARNING unless DESKHAND_LOG_LEVEL=DEBUG asks for everything."""
    chosen = os.environ.get("DESKHAND_LOG_LEVEL", level).upper()
    if chosen not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        chosen = level
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=chosen, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for handler in root.handlers:
        if handler not in before:  # the handler we just made (not a host's, e.g. pytest's capture)
            handler.addFilter(_Quiet(logging.getLevelName(chosen)))
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if chosen == "DEBUG" else logging.WARNING)


def runtime() -> Any:
    """The process's runtime from the environment; a bad setting or an unopenable database is one
    line on stderr and exit code 2 (never a traceback)."""
    from sqlalchemy.exc import SQLAlchemyError

    from deskhand.runtime import Runtime
    from deskhand.settings import Settings, redact

    try:
        settings = Settings.from_env()
        announce_data_folder(settings)
        return Runtime.open(settings)
    except DeskhandError as exc:
        raise fail(exc) from exc
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise fail(ConfigError(f"cannot open the database {redact(settings.database_url)}: "
                               f"{str(reason).strip().splitlines()[0]}")) from exc


def announce_data_folder(settings: Any) -> None:
    """Say once, on stderr, where deskhand keeps its data when no DESKHAND_DATABASE_URL chose it."""
    if not settings.database_is_default:
        return
    db = settings.data_folder() / "deskhand.db"
    if db.exists():
        return
    err.print(f"deskhand keeps its data in {settings.data_folder()} (database and key, owner-only); set "
              "DESKHAND_DATABASE_URL or DESKHAND_HOME to choose another place", soft_wrap=True, highlight=False)
    if Path("deskhand.db").is_file():
        err.print(f"[yellow]note:[/yellow] ./deskhand.db (an earlier version's default) is not used: keep it "
                  f"with DESKHAND_DATABASE_URL=sqlite:///{Path('deskhand.db').resolve()}", soft_wrap=True,
                  highlight=False)


def fail(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
    return typer.Exit(2)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# -- connect / accounts -------------------------------------------------------------------
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def connect(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="The provider's slug (its definition's name).")],
    name: Annotated[str, typer.Option(help="A short name for this account (used in webhook URLs).")],
    tenant: Annotated[str | None, typer.Option(help="The tenant (customer) the account belongs to "
                                                    f"(default: {DEFAULT_TENANT}).")] = None,
    setting: Annotated[list[str] | None, typer.Option(help="Responder setting key=value (repeatable).")] = None,
    update: Annotated[bool, typer.Option("--update", help="Change an existing account: values not given are "
                                                          "kept.")] = False,
    no_webhook_secret: Annotated[bool, typer.Option("--no-webhook-secret", help="Connect without a webhook "
                                                    "signing secret (its webhooks will be refused).")] = False,
    register_webhook: Annotated[str | None, typer.Option(
        "--register-webhook", help="deskhand's public base URL: create the helpdesk's webhook to it through the "
        "provider's API and keep its signing secret (providers that have such an API).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a definition argument the provider "
                                                   "declares: name=value or name.key=value (repeatable).")] = None,
    oauth: Annotated[str | None, typer.Option(
        "--oauth", help="deskhand's public base URL: connect by OAuth instead of an API token; prints the URL to "
        "authorise in a browser, whose redirect to PUBLIC_URL/oauth/callback/<slug> finishes it.")] = None,
) -> None:
    """Connect a helpdesk account. Connection values are the provider's own options, for Zendesk:
    --subdomain S --email E --api-token T --webhook-secret W [--base-url URL]. Keep secrets off the
    command line: `--api-token -` reads it from stdin, `--api-token-env VAR` from the variable VAR, and
    DESKHAND_API_TOKEN / DESKHAND_WEBHOOK_SECRET are used when the option is not given."""
    from deskhand.cli import secret_args
    from deskhand.cli.checks import account_name, known_provider
    from deskhand.cli.overrides import account_overrides
    from deskhand.providers import connection_fields, open_connector
    from deskhand.providers.checks import check_connection, first_contact

    if oauth is not None:
        from deskhand.cli.oauth import connect_oauth

        connect_oauth(ctx.args, provider, name, tenant, setting or [], set_ or [], oauth)
        return
    try:
        account_name(name)
        fields = connection_fields(known_provider(provider))
        rt = runtime()
        old = _existing(rt.store, name, provider, tenant, update)
        tenant = tenant or (old.tenant_id if old else DEFAULT_TENANT)
        if old is not None and old.config.get("auth") in ("oauth2", "oauth1"):  # --update of an OAuth account
            from deskhand.providers import load_definition  # stays OAuth
            from deskhand.providers.oauth import grant_spec

            granted = grant_spec(load_definition(provider)).replaces
            fields = {k: f for k, f in fields.items() if k not in granted}
        args = secret_args.resolve(ctx.args, fields)  # secrets from stdin ('-'), --x-env VAR or DESKHAND_X
        config = _parse_connection(args, fields, base=old.config if old else None)
        settings = dict(_parse_setting(s) for s in setting or [])
        overrides = account_overrides(provider, old.overrides if old else {}, set_ or [])
        _check_settings(rt.store, name, {**(old.settings if old else {}), **settings})  # before storing anything
        secret_later = register_webhook is not None  # the helpdesk makes it
        if "webhook_secret" in fields and not config.get("webhook_secret") and not (no_webhook_secret or secret_later):
            raise ConfigError("no --webhook-secret: the helpdesk's signed webhooks would all be refused (401); "
                              "give the secret you set on the helpdesk's webhook, or --no-webhook-secret")
        connector = open_connector(provider, name, config, overrides=overrides, oauth_tokens=rt.oauth_tokens)
        try:
            me = first_contact(connector)  # wrong credentials, a helpdesk that is down: advice, nothing stored
            check_connection(connector)
            registered = _register(connector, register_webhook, config) if register_webhook else None
        finally:
            connector.close()
        accepted = _accepted_webhooks(provider, config)
        rt.store.save_account(name, provider, config, tenant_id=tenant, settings=settings, overrides=overrides)
    except DeskhandError as exc:
        raise fail(exc) from exc
    verb = "updated" if old else "connected"
    out.print(f"{verb} [bold]{provider}[/bold] account [bold]{name}[/bold] (tenant {tenant}) as {me.email or me.id}")
    out.print(f"webhook URL path: /webhooks/{provider}/{name}")
    if registered is not None:
        out.print(f"registered webhook {registered.id} in {provider} → {registered.url}"
                  + (" (its signing secret is stored)" if registered.secret else ""), soft_wrap=True, highlight=False)
    else:
        out.print(f"next: create the webhook in {provider} pointing at https://<this host>/webhooks/{provider}/{name} "
                  "(README: \"The helpdesk must be told to call deskhand\", or --register-webhook URL)",
                  soft_wrap=True, highlight=False)
    if accepted:
        out.print("deliveries must carry " + "; or ".join(accepted), soft_wrap=True, highlight=False, markup=False)
    if not config.get("webhook_secret") and "webhook_secret" in fields:
        err.print("[yellow]warning:[/yellow] no webhook secret: webhooks to this account are refused until "
                  f"`deskhand connect {provider} --name {name} --update --webhook-secret …`")


def _accepted_webhooks(provider: str, config: dict[str, str]) -> list[str]:
    """How the account's webhooks may authenticate, in words: each scheme of the definition the account
    configures (its secret is set), e.g. a signature header, or Basic auth instead."""
    from deskhand.providers import load_definition
    from deskhand.providers.webhooks import describe, scheme_secrets

    hooks = load_definition(provider).webhooks
    if hooks is None:
        return []
    return [describe(spec, config) for spec, secret in scheme_secrets(hooks.verify, config) if secret]


def _register(connector: Any, public_url: str, config: dict[str, str]) -> Any:
    """Create the account's webhook through the provider's API; its signing secret joins ``config``."""
    from deskhand.providers.registration import register_webhook

    registered = register_webhook(connector, public_url)
    if registered.secret:
        config["webhook_secret"] = registered.secret
    if "callback_url" in connector.definition.connection and not config.get("callback_url"):
        config["callback_url"] = registered.url  # a provider that signs the callback URL (Trello) signs this one
    return registered


def _existing(store: Any, name: str, provider: str, tenant: str | None, update: bool) -> Any:
    """The account being updated (None for a new one); refuses a silent overwrite or a move."""
    old = store.find_account(name)
    if old is None:
        if update:
            raise NotFoundError(f"no account named {name!r} to --update: leave out --update to create it")
        return None
    if not update:
        raise ConfigError(f"account {name!r} exists ({old.provider}, tenant {old.tenant_id}): add --update to "
                          "change it, or choose another --name")
    if old.provider != provider:
        raise ConfigError(f"account {name!r} is a {old.provider} account: `deskhand accounts remove {name}` first")
    if tenant is not None and tenant != old.tenant_id:
        raise ConfigError(f"account {name!r} belongs to tenant {old.tenant_id!r}; an account cannot change tenant")
    return old


def _parse_connection(args: list[str], fields: dict[str, Any], base: dict[str, str] | None = None) -> dict[str, str]:
    values: dict[str, str] = dict(base or {})
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            raise DeskhandError(f"unexpected argument {arg!r}")
        key, _, value = arg[2:].partition("=")
        if not value:
            value = next(it, "")
        key = key.replace("-", "_")
        if key not in fields:
            raise DeskhandError(f"unknown option --{key.replace('_', '-')}; this provider takes: {_options(fields)}")
        values[key] = value
    missing = [k for k, f in fields.items() if getattr(f, "required", False) and not values.get(k)]
    if missing:
        raise DeskhandError(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)}")
    return values


def _options(fields: dict[str, Any]) -> str:
    return " ".join(f"--{k.replace('_', '-')}" for k in fields)


def _parse_setting(text: str) -> tuple[str, str | None]:
    from deskhand.account_settings import parse_setting

    return parse_setting(text)


def _check_settings(store: Any, account: str, settings: dict[str, Any]) -> None:
    """The account's settings together, and auto_categories against the categories triage knows."""
    from deskhand.account_settings import items, validate
    from deskhand.cli.checks import known_category

    validate(settings)
    for category in items(settings.get("auto_categories")):
        known_category(store, account, category)


@accounts_app.command("remove")
def accounts_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove an account: its webhooks are refused from then on; its autonomy modes and trained taxonomy go
    with it (its events, decisions and audit trail are kept)."""
    from deskhand.cli.checks import confirm

    rt = runtime()
    try:
        acc = rt.store.get_account(name)
        confirm(f"remove {acc.provider} account {name!r} (tenant {acc.tenant_id})?", yes=yes)
        rt.store.remove_account(name)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"removed account {name}; delete the webhook pointing at /webhooks/{acc.provider}/{name} in the helpdesk")


@accounts_app.command("list")
def accounts_list(as_json: JsonOpt = False) -> None:
    """List connected accounts (secrets are never shown)."""
    from deskhand.providers import connection_fields

    rows = []
    rt = runtime()
    oauth = rt.oauth_tokens.statuses()  # OAuth accounts: ok | needs_reauth (why)
    for a in rt.store.list_accounts():
        secret = [k for k, f in connection_fields(a.provider).items() if getattr(f, "secret", False)]
        status, reason = oauth.get(a.name, ("ok", None))
        rows.append(
            {
                "name": a.name,
                "provider": a.provider,
                "tenant": a.tenant_id,
                "auth": (a.config.get("auth") or "oauth2") if a.name in oauth else "token",
                "status": status,
                "reason": reason,
                "config": a.redacted(secret),
                "settings": a.settings,
                "overrides": a.overrides,
            }
        )
    if as_json:
        print_json({"accounts": rows})
        return
    table = Table("name", "provider", "tenant", "status", "connection", "settings")
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/red]: {r['reason']}"
        table.add_row(r["name"], r["provider"], r["tenant"], status, json.dumps(r["config"]), json.dumps(r["settings"]))
    out.print(table)


# -- knowledge ----------------------------------------------------------------------------
@kb_app.command("list")
def kb_list(tenant: str = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """List indexed articles (review: flagged articles are kept out of retrieval, with why; articles
    derived from solved tickets are pending until `deskhand kb approve`)."""
    from deskhand.cli.checks import known_tenant
    from deskhand.knowledge_reviews import reviews

    rt = runtime()
    rows = rt.store.list_articles(known_tenant(rt.store, tenant))
    seen = reviews(rt.store, tenant)
    for r in rows:
        review = seen.get(r["source_id"])
        r["review"] = review.status if review else None
        r["review_reason"] = review.reason if review else None
    if as_json:
        print_json({"articles": rows})
        return
    table = Table("source", "title", "updated", "review")
    for r in rows:
        note = f"{r['review']}: {r['review_reason']}" if r["review_reason"] else (r["review"] or "")
        table.add_row(r["source_id"], r["title"], str(r["updated_at"]), note)
    out.print(table)


@kb_app.command("remove")
def kb_remove(source_id: str, tenant: str = DEFAULT_TENANT) -> None:
    """Remove one article (by its source id, as `kb list` shows it)."""
    from deskhand.cli.checks import known_tenant

    rt = runtime()
    if not rt.store.remove_article(known_tenant(rt.store, tenant), source_id):
        raise fail(NotFoundError(f"tenant {tenant!r} has no article {source_id!r}: see `deskhand kb list`"))
    out.print(f"removed {source_id}")


@kb_app.command("search")
def kb_search(query: str, tenant: str = DEFAULT_TENANT, k: int = 5, as_json: JsonOpt = False) -> None:
    """Search the knowledge the responder would use."""
    from deskhand.cli.checks import known_tenant

    rt = runtime()
    found = rt.retrieve(known_tenant(rt.store, tenant), query, k=k)
    if as_json:
        print_json({"results": [s.__dict__ if hasattr(s, "__dict__") else _source(s) for s in found]})
        return
    table = Table("score", "title", "source", "excerpt")
    for s in found:
        table.add_row(f"{s.score:.2f}", s.title, s.id, s.text[:100].replace("\n", " "))
    out.print(table)


def _source(s: Any) -> dict[str, Any]:
    return {"id": s.id, "title": s.title, "score": s.score, "kind": s.kind, "url": s.url, "text": s.text}


# -- events / decisions -------------------------------------------------------------------
@events_app.command("list")
def events_list(account: str | None = None, limit: int = 50, as_json: JsonOpt = False) -> None:
    """Events recorded by the gateway, newest first."""
    from deskhand.cli.checks import known_account_or_history

    rt = runtime()
    if account is not None:
        known_account_or_history(rt.store, account)
    rows = rt.store.list_events(account=account, limit=limit)
    data = [
        {
            "id": r.id,
            "account": r.event.account,
            "provider": r.event.provider,
            "kind": r.event.kind.value,
            "ticket_id": r.event.ticket_id,
            "delivery_id": r.event.delivery_id,
            "received_at": r.received_at,
        }
        for r in rows
    ]
    if as_json:
        print_json({"events": data})
        return
    table = Table("id", "account", "kind", "ticket", "delivery", "received")
    for d in data:
        table.add_row(
            str(d["id"]),
            d["account"],
            d["kind"],
            d["ticket_id"],
            d["delivery_id"][:24],
            str(d["received_at"]),
        )
    out.print(table)


@decisions_app.command("show")
def decisions_show(decision_id: int, as_json: JsonOpt = False) -> None:
    """One decision with its evidence and the actions it caused."""
    rt = runtime()
    try:
        d = rt.store.get_decision(decision_id)
    except DeskhandError as exc:
        raise fail(exc) from exc
    d["actions"] = [
        {"kind": a.kind, "status": a.status, "key": a.key, "result": a.result, "error": a.error}
        for a in rt.store.actions_for(decision_id)
    ]
    if as_json:
        print_json(d)
        return
    out.print(
        f"[bold]decision {d['id']}[/bold]  account {d['account']}  ticket {d['ticket_id']}  route "
        f"[bold]{d['route']}[/bold]  confidence {d['confidence']:.2f}"
    )
    out.print(f"category {d['category']}  urgency {d['urgency']}  rules {', '.join(d['rules']) or '-'}")
    for reason in d["reasons"]:
        out.print(f"  why: {reason}")
    for s in d["evidence"].get("sources", []):
        out.print(f"  source: {s['title']} ({s['id']}) {s['score']:.2f}")
    if d["reply"]:
        out.print("reply:\n" + d["reply"])
    for a in d["actions"]:
        out.print(f"  action {a['kind']}: {a['status']}" + (f" ({a['error']})" if a["error"] else ""))


# -- processes ----------------------------------------------------------------------------
@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: Annotated[int, typer.Option(help="Worker threads in this process.")] = 2,
    no_workers: Annotated[bool, typer.Option("--no-workers", help="Only receive webhooks.")] = False,
    sync_interval: Annotated[float, typer.Option(help="Seconds between incremental syncs of every account "
                                                      "(0: off).")] = 300.0,
    header_timeout: Annotated[float, typer.Option(help="Seconds a request's line and headers may take.")] = 10.0,
    body_timeout: Annotated[float, typer.Option(help="Seconds a webhook's body may take (then 408).")] = 30.0,
    graceful_timeout: Annotated[float, typer.Option(help="On SIGTERM: seconds running requests get.")] = 10.0,
    mcp_allow_writes: Annotated[bool, typer.Option("--mcp-allow-writes", help="/mcp offers the write tools to keys "
                                                   "with their scopes (default: read-only).")] = False,
    mcp_dry_run: Annotated[bool, typer.Option("--mcp-dry-run", help="/mcp write tools answer with the helpdesk "
                                              "call they would make, performing nothing.")] = False,
    mcp_account: Annotated[list[str] | None, typer.Option(
        "--mcp-account", help="Repeatable: /mcp serves only these accounts (a client may pin fewer with "
        "/mcp?account=NAME; a key still sees only its tenant's).")] = None,
) -> None:
    """Run the gateway (webhooks, health, API) with in-process workers by default. Every wait is
    bounded (request heads, bodies, idle keep-alive 5 s, shutdown); the read API and
    /metrics need DESKHAND_API_TOKEN (a bearer token) and are refused without one."""
    from deskhand.cli.checks import free_port
    from deskhand.gateway import server
    from deskhand.gateway.app import create_app
    from deskhand.settings import redact

    setup_logging()
    try:
        free_port(host, port)
    except DeskhandError as exc:
        raise fail(exc) from exc
    rt = runtime()
    _llms_or_exit(rt)
    if not no_workers:  # the model is fitted while the gateway already accepts (and stores) webhooks
        threading.Thread(target=_warm_up, args=(rt,), name="warm-up", daemon=True).start()
        threading.Thread(target=_check_llms, args=(rt,), name="llm-check", daemon=True).start()
    from deskhand.tools.runner import Options

    app_ = create_app(rt, workers=0 if no_workers else workers, sync_interval_s=sync_interval,
                      body_timeout_s=body_timeout, mcp=Options(allow_writes=mcp_allow_writes, dry_run=mcp_dry_run,
                                                              accounts=frozenset(mcp_account or ())))
    bounds = server.Bounds(header_timeout_s=header_timeout, graceful_s=graceful_timeout)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"deskhand listening on http://{shown}:{port} — webhooks: /webhooks/<provider>/<account>, health: "
              f"/healthz; store: {redact(rt.settings.database_url)}; "
              f"{0 if no_workers else workers} worker(s)", soft_wrap=True, highlight=False)
    server.run(app_, host, port, bounds, log_level="warning")


def _llms_or_exit(rt: Any) -> None:
    """A malformed LLM spec stops the process at start (one line, exit 2), not every job later."""
    try:
        rt.llms()
    except DeskhandError as exc:
        raise fail(exc) from exc


def _check_llms(rt: Any) -> None:
    """Ask each configured LLM one small structured question (in the background) and say how it went:
    a server that is down or refuses the format is named at start, not found out ticket by ticket."""
    from deskhand.ai.llm_check import probe

    classify_llm, generate_llm = rt.llms()
    for llm in {id(x): x for x in (classify_llm, generate_llm) if x is not None}.values():
        p = probe(llm)
        if p.ok:
            err.print(f"LLM {p.llm} answers (format {p.format}, {p.latency_ms:.0f} ms)"
                      + (f"; {p.advice}" if p.advice else ""), highlight=False, soft_wrap=True)
        else:
            err.print(f"[red]LLM {p.llm} does not work[/red]: {p.error}; {p.advice}. Until it does, the offline "
                      "models decide (see `deskhand doctor`).", highlight=False, soft_wrap=True)


def _warm_up(rt: Any) -> None:
    seconds = rt.warm_up()
    err.print(f"triage model ready ({seconds:.1f} s)", highlight=False)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker threads.")] = 1,
    lease_s: Annotated[float, typer.Option(help="Seconds a claimed job stays ours before it is re-delivered.")] = 120.0,
    grace_s: Annotated[
        float, typer.Option(help="On SIGTERM/SIGINT: seconds running jobs get to finish before they are released.")
    ] = 30.0,
    webhook_lease_s: Annotated[
        float, typer.Option(min=1.0, help="Seconds an outbound webhook delivery stays this worker's: one in flight "
                            "when the worker dies is sent again after it (its HTTP timeout is a third of it).")
    ] = 30.0,
) -> None:
    """Run workers only (the gateway runs elsewhere, sharing the same store). SIGTERM stops claiming,
    lets running jobs finish within --grace-s and returns the rest to the queue."""
    import signal

    from deskhand.responder.worker import run_workers

    setup_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rt = runtime()
    _llms_or_exit(rt)
    threading.Thread(target=_check_llms, args=(rt,), name="llm-check", daemon=True).start()
    from deskhand.outbound import start_delivery_loop

    # outbound unified webhooks (leased rows: any number of deliverers) need no model: they start first
    start_delivery_loop(rt, stop, lease_s=webhook_lease_s)
    _warm_up(rt)  # before the first job is claimed
    released = run_workers(rt, concurrency, stop, lease_s=lease_s, grace_s=grace_s)
    logging.getLogger("deskhand.worker").info("workers stopped (%d running jobs released)", released)
    rt.store.engine.dispose()


@app.command()
def demo(as_json: JsonOpt = False, timeout: float = 120.0) -> None:
    """Run the whole thing on loopback: every simulated helpdesk, deskhand, a knowledge base, 14
    tickets."""
    from deskhand.demo.run import print_report, run_demo

    setup_logging("WARNING")
    report = run_demo(timeout_s=timeout, progress=None if as_json else err)
    if as_json:
        print_json(report)
    else:
        print_report(report, out)
    raise typer.Exit(0 if report["unhandled"] == 0 and not report["llm"]["failures"] else 1)
