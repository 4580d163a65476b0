"""The Content-Security-Policy header, the report endpoint, and templates that
keep to the policy (the browser tests prove the pages work under it)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

TEMPLATES = Path(settings.BASE_DIR) / "templates"
EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "object-src": ["'none'"],
    "report-uri": ["/csp-report/"],
}


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in parsed, header
        parsed[name] = sources
    return parsed


def test_a_normal_page_sends_the_policy(client, supervisor):
    client.force_login(supervisor)
    response = client.get(reverse("accounts:grid"))
    assert response.status_code == 200
    assert directives(response) == EXPECTED
    assert "Content-Security-Policy-Report-Only" not in response


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/health/"])
def test_pages_without_login_send_it_too(client, db, path):
    assert directives(client.get(path)) == EXPECTED


def test_the_lockout_page_sends_it(client, db):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 429
    assert directives(response) == EXPECTED


# --- the report endpoint ------------------------------------------------------------------

REPORT = {
    "csp-report": {
        "document-uri": "https://collections.example.com/accounts/",
        "referrer": "",
        "violated-directive": "style-src-attr",
        "effective-directive": "style-src-attr",
        "original-policy": "default-src 'self'; report-uri /csp-report/",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "source-file": "https://collections.example.com/accounts/",
        "status-code": 200,
        "script-sample": "",
    }
}


def post_report(body: bytes | str, content_type="application/csp-report"):
    # A browser's report: no session, no CSRF token.
    return Client(enforce_csrf_checks=True).post(
        "/csp-report/", data=body, content_type=content_type
    )


def test_a_report_is_logged_and_answered_204(db, caplog):
    caplog.set_level(logging.WARNING, logger="collections_app.csp")
    response = post_report(json.dumps(REPORT))
    assert response.status_code == 204
    assert response.content == b""
    (record,) = [r for r in caplog.records if r.name == "collections_app.csp"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "CSP violation: style-src-attr blocked inline on https://collections.example.com/accounts/"
    )


def test_a_reporting_api_report_is_logged_too(db, caplog):
    caplog.set_level(logging.WARNING, logger="collections_app.csp")
    body = [
        {
            "type": "csp-violation",
            "url": "https://collections.example.com/bulk/1/",
            "body": {
                "documentURL": "https://collections.example.com/bulk/1/",
                "effectiveDirective": "script-src-elem",
                "blockedURL": "https://cdn.example.net/x.js",
            },
        }
    ]
    assert post_report(json.dumps(body), "application/reports+json").status_code == 204
    assert (
        "CSP violation: script-src-elem blocked https://cdn.example.net/x.js on "
        "https://collections.example.com/bulk/1/"
    ) in caplog.text


def test_a_report_cannot_write_lines_of_its_own_into_the_log(db, caplog):
    caplog.set_level(logging.WARNING, logger="collections_app.csp")
    forged = {"csp-report": {**REPORT["csp-report"], "blocked-uri": "x\nERROR forged line"}}
    assert post_report(json.dumps(forged)).status_code == 204
    assert "\n" not in caplog.records[-1].getMessage()


def test_a_huge_report_is_refused_and_not_logged(db, caplog):
    caplog.set_level(logging.WARNING, logger="collections_app.csp")
    huge = {"csp-report": {**REPORT["csp-report"], "script-sample": "a" * 100_000}}
    response = post_report(json.dumps(huge))
    assert response.status_code == 413
    assert not [r for r in caplog.records if r.name == "collections_app.csp"]


def test_a_report_that_is_not_json_is_answered_204(db, caplog):
    caplog.set_level(logging.WARNING, logger="collections_app.csp")
    assert post_report(b"\xff not json").status_code == 204
    assert "CSP report that is not JSON" in caplog.text


def test_the_report_endpoint_takes_only_post(client, db):
    assert client.get("/csp-report/").status_code == 405


# --- templates that keep to the policy ------------------------------------------------------


def template_files():
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_style_or_handler(path):
    text = re.sub(r"\{#.*?#\}", "", path.read_text())  # comments may talk about them
    text = re.sub(r"\{% comment %\}.*?\{% endcomment %\}", "", text, flags=re.DOTALL)
    assert not re.search(r"\sstyle\s*=", text), "a style attribute (use app.css or app.js)"
    assert not re.search(r"<style\b", text), "a <style> element"
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag, f"an inline script: {tag}"
    assert not re.search(r"\son[a-z]+\s*=", text), "an inline event handler"
    assert "javascript:" not in text


def test_htmx_is_configured_for_the_policy():
    base = (TEMPLATES / "base.html").read_text()
    (config,) = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert json.loads(config) == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }


def test_the_csrf_failure_page_is_ours(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-testid="csrf-failure"' in html
    assert "<style" not in html
