"""Waiting for a condition in the page without Playwright's wait_for_function.

wait_for_function compiles its predicate inside the page when it has to
poll, and the product's Content-Security-Policy (script-src 'self', no
'unsafe-eval') refuses that: the wait then fails with an EvalError, but only
on the runs where the condition was not already true. ``page.evaluate`` goes
through the DevTools protocol, which the policy does not govern, so polling
it from here waits the same way on every run."""

from __future__ import annotations

import time

from playwright.sync_api import Page


def wait_until(page: Page, expression: str, arg=None, *, timeout: float = 10.0) -> None:
    """Evaluate ``expression`` (a function taking ``arg``) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        if page.evaluate(expression, arg):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Still false after {timeout} s: {expression}")
        time.sleep(0.05)
