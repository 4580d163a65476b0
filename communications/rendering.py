"""Sandboxed rendering of message templates.

A template is text with ``{{name}}`` placeholders from the whitelist
(``communications.placeholders``) and nothing else: no template tags, no
filters, no attribute access, no comments. This is not Django's template
language on purpose, so that a template written by a company's admin can
reach nothing but the values it is given. ``problems`` names every unknown
or malformed placeholder; ``render`` substitutes the values (escaped for
HTML bodies)."""

from __future__ import annotations

import re

from django.utils.html import escape, linebreaks

from communications.placeholders import BY_NAME

# A well-formed placeholder: {{ name }} with optional spaces.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}")
# What else looks like template syntax and is refused.
_TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}|\{%|\{#", re.S)
_OPEN, _CLOSE = "{{", "}}"


class TemplateProblem(ValueError):
    """A template that cannot be used, with every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def problems(text: str, *, email: bool = True) -> list[str]:
    """Every reason ``text`` cannot be rendered, each naming what is wrong."""
    found: list[str] = []
    for match in _TAG.finditer(text):
        found.append(f"Template tags are not allowed: “{match.group(0)[:40]}”.")
    remainder = PLACEHOLDER.sub("", text)
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        placeholder = BY_NAME.get(name)
        if placeholder is None:
            found.append(f"Unknown placeholder “{{{{{name}}}}}”.")
        elif placeholder.email_only and not email:
            found.append(f"“{{{{{name}}}}}” can be used in emails only.")
    # Anything left between braces is malformed ({{ debtor.ssn }}, {{a|upper}},
    # {{ unclosed ...).
    for bad in re.finditer(r"\{\{(.*?)(\}\}|$)", remainder, re.S):
        inner = bad.group(1).strip()
        if bad.group(2):
            found.append(f"Malformed placeholder “{{{{{inner[:40]}}}}}”: use a name from the list.")
        else:
            found.append(f"Unclosed placeholder “{{{{{inner[:40]}”: close it with }}}}.")
    if _CLOSE in re.sub(r"\{\{.*?\}\}", "", text, flags=re.S):
        found.append("A “}}” closes no placeholder.")
    return list(dict.fromkeys(found))


def used_placeholders(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(text)))


def render(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """``text`` with each placeholder replaced by its value. In an HTML body
    values are escaped, and the free text of ``{{customBody}}`` keeps its
    paragraphs. Refuses (TemplateProblem) a text with problems."""
    found = problems(text, email=True)
    if found:
        raise TemplateProblem(found)

    def value(match: re.Match) -> str:
        name = match.group(1)
        raw = values.get(name, "")
        if not html:
            return raw
        return linebreaks(raw, autoescape=True) if name == "customBody" else escape(raw)

    return PLACEHOLDER.sub(value, text)


# An email's HTML body is the company's own markup: shown (a template's
# preview, a message's page) in a sandboxed frame of its own, with a policy
# that runs no script and loads nothing (inline styles and data: images
# only), and never inside the product's pages.
HTML_FRAME_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


# What django.utils.html.escape replaces, in its order, as SQL literals.
_SQL_ESCAPES = (
    ("'&'", "'&amp;'"),
    ("'<'", "'&lt;'"),
    ("'>'", "'&gt;'"),
    ("'\"'", "'&quot;'"),
    ("''''", "'&#x27;'"),
)


def sql_renderable(*texts: str) -> bool:
    """Whether every placeholder of ``texts`` has a SQL expression (then
    ``to_sql`` fills them in inside the database, as ``render`` would)."""
    return all(
        BY_NAME[name].sql for text in texts for name in used_placeholders(text) if name in BY_NAME
    )


def to_sql(text: str, *, html: bool = False) -> tuple[str, list[str]]:
    """``text`` as a PostgreSQL expression giving what ``render`` gives for
    each row: the literal parts as parameters, each placeholder as its SQL
    expression (escaped as ``escape`` does in an HTML body). Refuses
    (TemplateProblem) a text with problems or a placeholder with no SQL."""
    found = problems(text, email=True)
    if found:
        raise TemplateProblem(found)
    parts, params, position = [], [], 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append("%s")
            params.append(text[position : match.start()])
        expression = BY_NAME[match.group(1)].sql
        if not expression:
            raise TemplateProblem([f"“{{{{{match.group(1)}}}}}” has no SQL form."])
        expression = f"({expression})"
        if html:
            for raw, entity in _SQL_ESCAPES:
                expression = f"replace({expression}, {raw}, {entity})"
        parts.append(expression)
        position = match.end()
    if position < len(text):
        parts.append("%s")
        params.append(text[position:])
    if not parts:
        return "''", []
    # ::text: a parameter alone must still be text to PostgreSQL.
    return "(" + " || ".join(f"{p}::text" if p == "%s" else p for p in parts) + ")", params
