"""The accessibility check every browser test uses (tests/e2e/a11y.py):
axe-core finds what it should, says it readably, runs under the page's
Content-Security-Policy without a violation and leaves the page as it was."""

from __future__ import annotations

import re

import pytest

from tests.e2e.a11y import AccessibilityError, Known, assert_accessible, axe_violations

pytestmark = [
    pytest.mark.e2e,
    # WhiteNoise looks for collectstatic's output; live_server serves the finders.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

# What the issue found on the grid and the Assign To dialog, in small: text
# at 3.1:1, a dialog with no name, a header cell with no text, an input with
# no label. DOM calls only: the policy allows no inline style or script.
DEFECTS = """() => {
  const main = document.querySelector("main");
  const faint = document.createElement("p");
  faint.className = "text-body-tertiary";
  faint.id = "faint";
  faint.textContent = "Faint text";
  const dialog = document.createElement("div");
  dialog.setAttribute("role", "dialog");
  dialog.id = "nameless-dialog";
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>Collector</th><th></th></tr></thead><tbody><tr><td>a</td><td>b</td></tr></tbody>";
  const input = document.createElement("input");
  input.id = "unlabelled";
  main.append(faint, dialog, table, input);
}"""


def test_the_check_finds_and_describes_violations(live_server, page, csp_watch):
    page.goto(live_server.url + "/login/")
    assert assert_accessible(page, "the login page") == []
    page.evaluate(DEFECTS)

    with pytest.raises(AccessibilityError) as caught:
        assert_accessible(page, "the login page with defects")
    report = str(caught.value)
    assert "on the login page with defects (http" in report
    for rule, impact, target in (
        ("color-contrast", "serious", "#faint"),
        ("aria-dialog-name", "serious", "#nameless-dialog"),
        ("empty-table-header", "minor", "th:nth-child(2)"),  # fails at any impact
        ("label", "critical", "#unlabelled"),
    ):
        assert re.search(rf"^- {rule} \({impact}\): .+ https://dequeuniversity\.com/", report, re.M)
        assert re.search(rf"^    .*{re.escape(target)}.*: Fix ", report, re.M), report

    # Excused by rule and element, and returned; the others still fail.
    known = (
        Known("label", "#unlabelled", "a test"),
        Known("color-contrast", "#faint", "a test"),
    )
    with pytest.raises(AccessibilityError) as caught:
        assert_accessible(page, "the page", known=known)
    assert "label (critical)" not in str(caught.value)
    assert "color-contrast" not in str(caught.value)
    assert "aria-dialog-name" in str(caught.value)
    everything = (
        *known,
        Known("aria-dialog-name", "#nameless-dialog", "a test"),
        Known("empty-table-header", "th", "a test"),
    )
    excused = assert_accessible(page, "the page", known=everything)
    assert sorted(v["id"] for v in excused) == [
        "aria-dialog-name",
        "color-contrast",
        "empty-table-header",
        "label",
    ]
    assert {v["id"] for v in axe_violations(page)} >= {v["id"] for v in excused}

    # A table body is checked on its first five rows (the rest repeat them),
    # or on every row when asked.
    page.evaluate("""() => {
      const body = document.createElement("tbody");
      for (let i = 0; i < 8; i++) {
        const row = body.insertRow();
        row.insertCell().textContent = "row " + i;
        row.className = "text-body-tertiary";
      }
      const table = document.createElement("table");
      table.append(body);
      document.querySelector("main").append(table);
    }""")
    faint = Known("color-contrast", "#faint", "above")
    for kwargs, count in (({}, 5), ({"rows": None}, 8)):
        with pytest.raises(AccessibilityError) as caught:
            assert_accessible(page, "the page", known=(*everything, faint), **kwargs)
        assert str(caught.value).startswith(f"axe-core: {count} element(s)"), str(caught.value)

    # axe-core ran in a world of its own: nothing of it in the page's.
    assert page.evaluate("typeof window.axe") == "undefined"
    page.context.close()
    assert csp_watch.violations == []  # and under the policy
