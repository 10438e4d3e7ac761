"""The console in a real browser: Debian's headless Chromium driven by Playwright (never
`playwright install`: the system browser only). A reviewer logs in, opens a real draft from the
Zendesk simulator loop, approves it with the `a` shortcut, and the reply is public in the simulator.
Screenshots are kept in the test's tmp folder (their paths are printed).

Skipped only when Chromium or Playwright is missing outside CI; with CI set it fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskhand.console.users import create_user
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"
TIMEOUT_MS = 60_000  # generous: the machine is shared; every wait is on a page condition


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "playwright" if sync_playwright is None else CHROMIUM if not Path(CHROMIUM).exists() else ""
    if missing:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{missing} is missing in CI: .ci/run installs chromium; pip install the test extra")
        pytest.skip(f"{missing} is not installed (apt-get install chromium; pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture
def loop(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop(registry.default_slug(), store, settings, mode="draft") as running:
        create_user(store.engine, "rita", "default", "reviewer", PASSWORD)
        yield running


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            p = context.new_page()
            p.set_default_timeout(TIMEOUT_MS)
            yield p
        finally:
            browser.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("DESKHAND_TEST_ARTEFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    print(f"screenshot: {path}")
    return path


def test_a_reviewer_logs_in_and_approves_a_draft_that_becomes_the_public_reply(loop: Loop, page: Any,
                                                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    tid = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
    loop.drain()
    (decision,) = [d for d in loop.decisions(tid) if d["route"] == "draft"]
    decision_id, reply = int(decision["id"]), str(decision["reply"]).strip()

    page.goto(f"{loop.gateway_url}/console/review")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/review$"))  # no session: log in first
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/console/review$"))
    link = page.get_by_role("link", name="How do I reset my password?")
    expect(link).to_be_visible()
    _shot(page, tmp_path, "queue")

    link.click()
    expect(page).to_have_url(re.compile(rf"/console/review/{decision_id}$"))
    expect(page.get_by_role("heading", name="Why it was not sent automatically")).to_be_visible()
    expect(page.get_by_label("Reply to send (edit it before approving if needed)")).to_have_value(
        re.compile(re.escape(reply[:40])))
    _shot(page, tmp_path, "draft")

    page.locator("h1").click()  # focus out of any field, then the reviewer's shortcut
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(rf"/console/review\?done=approved-{decision_id}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Draft {decision_id} approved")
    _shot(page, tmp_path, "approved")

    public = [c.body.strip() for c in loop.customer.list_comments(tid) if c.public]
    assert public.count(reply) == 1  # the draft, now the public reply in the simulator, once

    page.set_viewport_size({"width": 390, "height": 844})  # phone width: the queue still renders
    page.goto(f"{loop.gateway_url}/console/review")
    expect(page.get_by_role("heading", name=re.compile("Review queue"))).to_be_visible()
    _shot(page, tmp_path, "queue-phone")


def test_an_admin_edits_one_draft_rejects_another_and_trips_and_resets_a_switch(loop: Loop, store: Store, page: Any,
                                                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    create_user(store.engine, "ada", "default", "admin", PASSWORD)
    tids = [loop.create(s, f"{s}: I forgot my password. How do I reset it?") for s in ("Reset please", "Lost login")]
    loop.drain()
    ids = [next(int(d["id"]) for d in loop.decisions(tid) if d["route"] == "draft") for tid in tids]
    before = [[c.body.strip() for c in loop.customer.list_comments(tid) if c.public] for tid in tids]

    page.goto(f"{loop.gateway_url}/console/login")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile("Review queue"))).to_be_visible()

    page.keyboard.press("j")  # the first (newest) row is selected and its link focused; Enter opens it
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/review/{ids[1]}$"))
    page.locator("h1").click()
    page.keyboard.press("r")  # to the rejection reason
    expect(page.get_by_label("Reason for rejecting")).to_be_focused()
    page.keyboard.type("not our product")
    page.get_by_role("button", name="Reject (r)").click()
    expect(page.get_by_role("status")).to_contain_text(f"Draft {ids[1]} rejected")

    page.goto(f"{loop.gateway_url}/console/review/{ids[0]}")
    page.locator("h1").click()
    page.keyboard.press("e")  # to the reply, edited before approving
    reply = page.get_by_label("Reply to send (edit it before approving if needed)")
    expect(reply).to_be_focused()
    edited = "Hi Ann, use the Forgot password link on the sign-in page. Best regards, Sam"
    reply.fill(edited)
    page.get_by_role("button", name="Approve and send (a)").click()
    expect(page.get_by_role("status")).to_contain_text(f"Draft {ids[0]} edited")
    _shot(page, tmp_path, "edited")
    after = [[c.body.strip() for c in loop.customer.list_comments(tid) if c.public] for tid in tids]
    assert after[0] == [*before[0], edited] and after[1] == before[1]  # the edit posted; the rejection nothing

    page.get_by_role("link", name="Kill switches").click()
    page.get_by_label("Account").select_option("acme")
    page.get_by_label("Cap at").select_option("shadow")
    page.get_by_label("Reason", exact=True).fill("answers look wrong today")
    page.get_by_role("button", name="Trip").click()
    row = page.get_by_role("row").filter(has_text="answers look wrong today")
    expect(row).to_contain_text("console:ada")
    _shot(page, tmp_path, "switch-tripped")
    row.get_by_role("textbox").fill("checked, fine again")
    row.get_by_role("button", name="Reset").click()
    expect(page.get_by_role("row").filter(has_text="answers look wrong today")).to_contain_text("reset by console:ada")
    _shot(page, tmp_path, "switch-reset")


def test_an_admin_changes_a_category_mode_with_a_reason_and_reads_the_dashboard(loop: Loop, store: Store, page: Any,
                                                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from deskhand.responder.modes import get_mode

    create_user(store.engine, "ada", "default", "admin", PASSWORD)
    tid = loop.create("Password help", "I forgot my password. How do I reset it?")
    loop.drain()
    (decision,) = [d for d in loop.decisions(tid) if d["route"] == "draft"]
    category = str(decision["category"])

    page.goto(f"{loop.gateway_url}/console/login?next=/console/controls")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Autonomy controls")).to_be_visible()
    page.get_by_label("Category").select_option(category)
    page.get_by_label("Mode", exact=True).select_option("canary")
    page.get_by_label("Canary share (%)").fill("20")
    page.get_by_label("Reason for the mode change").fill("clean drafts for two weeks")
    page.get_by_role("button", name="Set mode").click()
    modes = page.locator("#modes")
    expect(modes.get_by_role("row").filter(has_text=category)).to_contain_text("canary")
    expect(modes.get_by_role("row").filter(has_text=category)).to_contain_text("20%")
    change = page.locator("table.audit").get_by_role("row").filter(has_text="clean drafts for two weeks")
    expect(change).to_contain_text("console:ada")
    expect(change).to_contain_text("canary 20%")
    _shot(page, tmp_path, "controls")
    setting = get_mode(store, "acme", category)
    assert (setting.mode.value, setting.canary_share, setting.updated_by) == ("canary", 0.2, "console:ada")

    page.get_by_role("link", name="Outcomes").click()
    expect(page.get_by_role("heading", name=re.compile("^Outcomes"))).to_be_visible()
    expect(page.locator("#totals").get_by_text("Decisions", exact=True).locator("xpath=..")).to_contain_text("1")
    expect(page.get_by_role("img", name="Decisions per day by route")).to_be_visible()
    _shot(page, tmp_path, "outcomes")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("row").filter(has_text="clean drafts for two weeks").first).to_be_visible()
