"""deskhand.console.throttle: failures counted per key in a sliding window on an injected clock."""

from __future__ import annotations

import pytest

from deskhand.console.throttle import LoginThrottle, keys_for


@pytest.mark.parametrize("failures,advance,blocked", [
    (4, 0.0, False), (5, 0.0, True), (5, 899.0, True), (5, 901.0, False),
], ids=["under-limit", "at-limit", "inside-window", "after-window"])
def test_a_key_is_blocked_only_with_limit_failures_inside_the_window(failures: int, advance: float,
                                                                    blocked: bool) -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=5, window_s=900.0, clock=lambda: now[0])
    for _ in range(failures):
        throttle.failed(keys_for("Rita", "10.0.0.1"))
    now[0] += advance
    assert (throttle.wait_s(keys_for("rita", "10.0.0.2")) > 0) is blocked  # usernames case-insensitive


def test_an_address_is_blocked_across_usernames_and_success_clears_only_the_user() -> None:
    throttle = LoginThrottle(limit=2, window_s=60.0, clock=lambda: 0.0)
    throttle.failed(keys_for("a", "10.0.0.1"))
    throttle.failed(keys_for("b", "10.0.0.1"))
    assert throttle.wait_s(keys_for("c", "10.0.0.1")) == 60.0 and throttle.wait_s(keys_for("c", "10.0.0.9")) == 0
    throttle.failed(keys_for("a", "10.0.0.9"))
    throttle.succeeded("A")
    assert throttle.wait_s(keys_for("a", None)) == 0
