"""One refresh at a time per account across processes (deskhand.providers.oauth_tokens), for Zendesk and
Jira (Atlassian 3LO, whose old access token lives on after a refresh): ten calls
on an expired access token, five threads in each of two worker processes sharing the store, cause
exactly one refresh at the simulator; the refresh token it rotated away is never sent again (the
simulator would revoke the whole grant if it were), and every call succeeds with the new token.
Both locks: the store row's lease (no Redis) and the Redis lock (DESKHAND_REDIS_URL set; the machine's
Redis at 127.0.0.1:6379, DESKHAND_TEST_REDIS_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from deskhand.providers.oauth_connect import finish, start
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import jira, jira_oauth, zendesk, zendesk_oauth
from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer
from deskhand.store import Store
from deskhand.store.tables_oauth import oauth_tokens

pytestmark = pytest.mark.every_backend
CLIENT = ("deskhand-race-client", "race-secret")
REDIS_URL = os.environ.get("DESKHAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store

folder, name, account, path, field = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
settings = Settings(database_url=os.environ["RACE_DB"], secret_key=os.environ["RACE_KEY"],
                    redis_url=os.environ.get("RACE_REDIS") or None)
rt = Runtime(Store.open(settings), settings)
assert (rt.oauth_tokens.lock is not None) == bool(os.environ.get("RACE_REDIS"))
connector = rt.connector(rt.store.get_account(account))
results = []
(folder / f"{name}.ready").write_text("1")
deadline = time.monotonic() + 120
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.01)

def call():
    try:
        answer = connector.http.request("GET", path).json()
        for key in field.split("."):
            answer = answer[key]
        results.append(answer)
    except Exception as exc:
        results.append(f"error: {exc!r}")

threads = [threading.Thread(target=call) for _ in range(5)]
for th in threads:
    th.start()
for th in threads:
    th.join(120)
print(json.dumps(results))
"""


@dataclass(frozen=True)
class Provider:
    slug: str
    config: dict[str, str]  # connection values besides base_url
    path: str  # a call every worker thread makes, and the answer's field it returns
    field: str

    def start(self, clock: ManualClock) -> tuple[Any, AuthServer]:
        if self.slug == "jira":  # Atlassian 3LO: rotating refresh tokens, 403 invalid_grant
            auth = jira_oauth.AtlassianAuth(dict([CLIENT]), clock=clock, access_ttl_s=3600)
            return jira.start(oauth=auth), auth.server
        server = zendesk_oauth.auth_server(dict([CLIENT]), clock=clock, access_ttl_s=3600)
        return zendesk.start(oauth=server), server


PROVIDERS = {"zendesk": Provider("zendesk", {"subdomain": "acme"}, "/users/me.json", "user.email"),
             "jira": Provider("jira", {}, "/myself", "emailAddress")}


def _connect(rt: Runtime, provider: Provider, sim_url: str, env: dict[str, str], account: str) -> None:
    url = start(rt, provider.slug, account, {**provider.config, "base_url": sim_url},
                public_url="http://127.0.0.1:9", tenant="default", env=env)
    location = httpx.get(url, follow_redirects=False, timeout=30).headers["location"]
    query = httpx.URL(location).params
    finish(rt, provider.slug, query["state"], query["code"], env=env)


@pytest.mark.parametrize(("slug", "lock"), [("zendesk", "store"), ("zendesk", "redis"), ("jira", "store")])
def test_ten_calls_on_an_expired_token_in_two_processes_refresh_once(
    slug: str, lock: str, store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = PROVIDERS[slug]
    prefix = f"DESKHAND_OAUTH_{slug.upper()}_CLIENT_"
    env = {prefix + "ID": CLIENT[0], prefix + "SECRET": CLIENT[1]}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    sim_clock = ManualClock(time.time())
    sim, server = provider.start(sim_clock)
    redis_url = REDIS_URL if lock == "redis" else None
    account = f"race-{uuid.uuid4().hex[:12]}"  # its own Redis lock key, whoever else uses this Redis
    rt = Runtime(store, settings.model_copy(update={"redis_url": redis_url}))
    assert (rt.oauth_tokens.lock is not None) is (lock == "redis")
    try:
        _connect(rt, provider, sim.url, env, account)
        before = rt.oauth_tokens.get(account)
        assert before is not None
        # the access token expires: at the simulator, and in the store's record of it
        sim_clock.advance(3601)
        with store.engine.begin() as c:
            c.execute(update(oauth_tokens).values(expires_at=time.time() - 1))
        child_env = {**os.environ, "RACE_DB": settings.database_url, "RACE_KEY": str(settings.secret_key), **env,
                     "RACE_REDIS": redis_url or ""}
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), f"p{i}", account, provider.path,
                                   provider.field], env=child_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"p{i}.ready").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker never got ready"
            time.sleep(0.05)
        (tmp_path / "go").write_text("1")
        results = []
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            results += json.loads(out.strip().splitlines()[-1])
    finally:
        sim.stop()
        rt.close()
    assert len(results) == 10 and not [r for r in results if r.startswith("error")], results
    assert server.refresh_log == [before.token["refresh_token"]]  # one refresh; the dead token never again
    assert not any(g.revoked for g in server.grants.values())
    after = rt.oauth_tokens.get(account)
    assert after is not None and after.version == before.version + 1 and after.status == "ok"
    assert after.token["refresh_token"] != before.token["refresh_token"]
