"""Accessibility checks in the browser tests: axe-core against WCAG 2.1 A/AA.

``assert_accessible(page, "the accounts grid")`` runs axe-core on what the
page shows now and fails with a readable list of its serious and critical
violations (rule, impact, the elements' selectors, the rule's help page).

axe-core's script comes from axe-playwright-python (the package vendors it:
no network). That package injects it with ``page.evaluate(script)``, into the
page's own JavaScript world. Under the app's policy (``script-src 'self'``,
no ``'unsafe-eval'``) this happens to work only because Chromium exempts the
synchronous part of a DevTools evaluation from the policy; axe-core compiles
some functions from strings (``new Function``), and one that runs later, in
a callback of the asynchronous ``axe.run``, would be blocked and reported as
a violation. So the script runs here in an isolated world of its own
(``Page.createIsolatedWorld`` over a CDP session, as an extension's content
script would): it shares the DOM and the computed styles with the page but
not its globals, and the page's policy is neither relaxed nor involved (the
app's scripts still run under it, and ``conftest.py`` still fails a test on
any violation). The page is left as it was: no ``window.axe``.

One thing axe-core does is still the page's business: to read the rules of a
stylesheet pulled in with ``@import`` (the Django admin's forms.css does it)
it adds a ``<style>@import ...</style>`` to a scratch document, which the
policy blocks (``style-src 'self'``) and reports. On such a page axe runs
without its CSSOM preload; the one rule that needs it, css-orientation-lock,
then cannot run there (our own pages use no ``@import`` and get it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page

WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# A violation of these impacts fails a test; lesser ones do not.
BLOCKING_IMPACTS = ("critical", "serious")
# Two of axe-core's best-practice rules on top (not WCAG-tagged, so the tags
# alone leave them out): a dialog has a name, a table header cell has text.
# Both once failed on the Assign To dialog (issue 12), so they fail a test
# whatever their impact (an empty header is "minor").
EXTRA_RULES = ("aria-dialog-name", "empty-table-header")

# Before axe looks: let running CSS transitions and animations end (a Bootstrap
# modal fading in, a button changing colour as its menu opens), or their
# half-way colours are measured; endless ones (a spinner) are not waited for.
SETTLE = """
(async () => {
  // Until no finite animation runs, and none starts in the next 100 ms: a
  // Bootstrap modal fades its backdrop in first, then itself, so a page can
  // be still between two transitions. At most 3 s.
  const deadline = Date.now() + 3000;
  const running = () => document.getAnimations().filter(a =>
    a.playState === "running" && a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  while (Date.now() < deadline) {
    const now = running();
    if (now.length) {
      await Promise.race([
        Promise.all(now.map(a => a.finished.catch(() => null))),
        new Promise(resolve => setTimeout(resolve, deadline - Date.now())),
      ]);
      continue;
    }
    await new Promise(resolve => setTimeout(resolve, 100));
    if (!running().length) return null;
  }
  return null;
})()
"""


# Whether a stylesheet of the page pulls in another with @import (see above).
HAS_IMPORTED_STYLESHEETS = """
Array.from(document.styleSheets).some(sheet => {
  try { return Array.from(sheet.cssRules).some(rule => rule.type === CSSRule.IMPORT_RULE); }
  catch (error) { return false; }
})
"""


class AccessibilityError(AssertionError):
    pass


@dataclass(frozen=True)
class Known:
    """A serious violation that is not ours to fix (Django's admin, say):
    ``rule`` on elements whose selector contains ``target``, and why."""

    rule: str
    target: str
    reason: str

    def covers(self, rule: str, node: dict) -> bool:
        return rule == self.rule and self.target in _target(node)


# Rows of a table body checked: the first few. The others repeat their
# markup and styles, and color-contrast over a 50-row grid takes a second
# where five rows take a fifth of it; ``rows=None`` checks every row.
SAMPLED_ROWS = 5


def axe_violations(
    page: Page, *, context: str | None = None, rows: int | None = SAMPLED_ROWS
) -> list[dict]:
    """axe-core's violations of the WCAG 2.1 A/AA rules on the page as it is
    (``context``: a CSS selector to check only that part; ``rows``: how many
    rows of each table body, None for all)."""
    scope: dict = {"include": [context] if context else [["html"]]}
    if rows is not None:
        scope["exclude"] = [[f"tbody > tr:nth-child(n+{rows + 1})"]]
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_21_AA)},
        "rules": {rule: {"enabled": True} for rule in EXTRA_RULES},
        "resultTypes": ["violations"],
    }
    cdp = page.context.new_cdp_session(page)
    try:
        frame_id = cdp.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        world = cdp.send(
            "Page.createIsolatedWorld", {"frameId": frame_id, "worldName": "axe-core"}
        )["executionContextId"]
        _evaluate(cdp, world, AXE_SCRIPT + "\n;void 0")
        _evaluate(cdp, world, SETTLE)
        if _evaluate(cdp, world, HAS_IMPORTED_STYLESHEETS):
            options["preload"] = False
        results = _evaluate(
            cdp,
            world,
            f"axe.run({json.dumps(scope)}, {json.dumps(options)}).then(r => r.violations)",
        )
    finally:
        cdp.detach()
    return results


def _evaluate(cdp, context_id: int, expression: str):
    answer = cdp.send(
        "Runtime.evaluate",
        {
            "expression": expression,
            "contextId": context_id,
            "awaitPromise": True,
            "returnByValue": True,
        },
    )
    if "exceptionDetails" in answer:
        details = answer["exceptionDetails"]
        message = details.get("exception", {}).get("description") or details.get("text")
        raise RuntimeError(f"axe-core failed in the page: {message}")
    return answer["result"].get("value")


def _target(node: dict) -> str:
    return " ".join(
        " >> ".join(part) if isinstance(part, list) else part for part in node["target"]
    )


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" [{len(violation['nodes'])} element(s)] {violation['helpUrl']}"
        )
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {_target(node)}: {summary}")
    return "\n".join(lines)


def _split(violations: list[dict], known: tuple[Known, ...]) -> tuple[list[dict], list[dict]]:
    """(blocking, excused): the serious and critical violations (and any of
    EXTRA_RULES), each keeping only the elements that no ``known`` entry
    covers, and those it covers."""
    blocking, excused = [], []
    for violation in violations:
        if violation["impact"] not in BLOCKING_IMPACTS and violation["id"] not in EXTRA_RULES:
            continue
        ours, theirs = [], []
        for node in violation["nodes"]:
            covered = any(k.covers(violation["id"], node) for k in known)
            (theirs if covered else ours).append(node)
        if ours:
            blocking.append({**violation, "nodes": ours})
        if theirs:
            excused.append({**violation, "nodes": theirs})
    return blocking, excused


def assert_accessible(
    page: Page,
    name: str,
    *,
    context: str | None = None,
    known: tuple[Known, ...] = (),
    rows: int | None = SAMPLED_ROWS,
) -> list[dict]:
    """Fail if axe-core finds a serious or critical WCAG 2.1 A/AA violation
    (or one of EXTRA_RULES) on the page, or in ``context``, that ``known``
    does not excuse. Returns the violations it excused, for a test that wants
    to look at them."""
    blocking, excused = _split(axe_violations(page, context=context, rows=rows), known)
    if blocking:
        raise AccessibilityError(
            f"axe-core: {sum(len(v['nodes']) for v in blocking)} element(s) with serious or "
            f"critical WCAG 2.1 AA violations on {name} ({page.url}):\n{describe(blocking)}"
        )
    return excused
