"""Browser fixtures: Playwright driving Debian's Chromium (never a downloaded one)."""

import os
import re

import pytest

# A real Celery worker on the test's (and so the live server's) database.
from tests.bulkops.conftest import celery_worker, celery_workers  # noqa: F401

# Playwright's sync API runs an asyncio loop in the test thread; Django's ORM
# refuses to run there unless told the (synchronous) use is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]


# Every browser context of a test reports Content-Security-Policy violations:
# the page's ``securitypolicyviolation`` events (kept in ``window.__cspViolations``
# and passed to Python at once, since the array goes with each navigation) and
# the console lines Chromium writes for them. A test during which any is seen
# fails (``pytest_runtest_call`` below), so every browser test also proves that
# its pages work under the policy.
CSP_LISTENER = """
(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    const violation = {
      directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI,
      document: event.documentURI,
      source: event.sourceFile,
      line: event.lineNumber,
      sample: event.sample,
    };
    window.__cspViolations.push(violation);
    if (typeof window.__cspViolationSeen === "function") window.__cspViolationSeen(violation);
  }, true);
})();
"""
CSP_CONSOLE = re.compile(r"content.security.policy", re.IGNORECASE)


class CspWatch:
    """The CSP violations seen in the browser contexts of one test."""

    def __init__(self):
        self.violations: list[str] = []

    def _add(self, text: str):
        if text not in self.violations:
            self.violations.append(text)

    def _event(self, violation: dict):
        self._add(
            "violation: {directive} blocked {blocked} on {document} "
            "({source}:{line}) {sample}".format(**{k: violation.get(k) for k in violation})
        )

    def _console(self, message):
        if CSP_CONSOLE.search(message.text):
            self._add(f"console {message.type}: {message.text}")

    def attach(self, context):
        context.add_init_script(CSP_LISTENER)
        context.expose_binding("__cspViolationSeen", lambda _source, v: self._event(v))
        context.on("console", self._console)
        close = context.close

        def read_then_close(*args, **kwargs):
            self.read(context)
            return close(*args, **kwargs)

        context.close = read_then_close
        return context

    def read(self, context):
        """What the open pages still hold (their current document)."""
        from playwright.sync_api import Error

        for page in context.pages:
            if page.is_closed():
                continue
            try:
                for violation in page.evaluate("window.__cspViolations || []"):
                    self._event(violation)
            except Error:  # navigating, or the page has just gone
                pass


class WatchedBrowser:
    """The session's Chromium; each context it opens for a test is watched."""

    def __init__(self, browser, watch: CspWatch):
        self._browser = browser
        self._watch = watch
        self._contexts = []

    def new_context(self, **kwargs):
        context = self._watch.attach(self._browser.new_context(**kwargs))
        self._contexts.append(context)
        return context

    def read(self):
        for context in self._contexts:
            self._watch.read(context)  # a context already closed has no pages left

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def csp_watch(request):
    watch = CspWatch()
    request.node.csp_watch = watch
    return watch


@pytest.fixture
def browser(chromium, csp_watch, request):
    watched = WatchedBrowser(chromium, csp_watch)
    request.node.watched_browser = watched
    return watched


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a browser test's body passed: fail it if any CSP violation was seen."""
    result = yield
    watched = getattr(item, "watched_browser", None)
    if watched is not None:
        watched.read()
        violations = item.csp_watch.violations
        if violations:
            pytest.fail(
                "Content-Security-Policy violations:\n" + "\n".join(violations), pytrace=False
            )
    return result


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
