"""Sandboxed template rendering and SMS measuring: only whitelisted
placeholders render, everything else is named as a problem; HTML bodies
escape values; SMS length, encoding and segments as carriers count them."""

import pytest

from communications import rendering, sms
from communications.placeholders import PLACEHOLDERS, example_values


def test_whitelisted_placeholders_render_with_or_without_spaces():
    text = "Dear {{debtorFirstName}}, you owe {{ accountBalance }} on {{fileNumber}}."
    values = {"debtorFirstName": "Ann", "accountBalance": "$10.00", "fileNumber": "F1"}
    assert rendering.render(text, values) == "Dear Ann, you owe $10.00 on F1."
    assert rendering.used_placeholders(text) == ["debtorFirstName", "accountBalance", "fileNumber"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi {{debtorSSN}}", "Unknown placeholder “{{debtorSSN}}”."),
        ("Hi {{ debtor.ssn }}", "Malformed placeholder “{{debtor.ssn}}”"),
        ("Hi {{debtorFirstName|upper}}", "Malformed placeholder “{{debtorFirstName|upper}}”"),
        ("{% load static %}Hi", "Template tags are not allowed: “{% load static %}”."),
        ("{# note #}Hi", "Template tags are not allowed"),
        ("Hi {{debtorFirstName", "Unclosed placeholder “{{debtorFirstName”"),
        ("Hi debtorFirstName}}", "A “}}” closes no placeholder."),
        ("{{ __class__ }}", "Malformed placeholder"),
    ],
)
def test_anything_else_is_named_and_refused(text, problem):
    found = rendering.problems(text)
    assert any(problem in p for p in found), found
    with pytest.raises(rendering.TemplateProblem):
        rendering.render(text, example_values())


def test_the_opt_out_link_is_for_emails_only():
    assert rendering.problems("{{optOutLink}}", email=False) == [
        "“{{optOutLink}}” can be used in emails only."
    ]
    assert rendering.problems("{{optOutLink}}", email=True) == []


def test_html_bodies_escape_values_and_keep_free_text_paragraphs():
    values = {"debtorFirstName": "<script>x</script>", "customBody": "Line one\n\nLine <b>two</b>"}
    out = rendering.render("<p>{{debtorFirstName}}</p>{{customBody}}", values, html=True)
    assert out == (
        "<p>&lt;script&gt;x&lt;/script&gt;</p><p>Line one</p>\n\n<p>Line &lt;b&gt;two&lt;/b&gt;</p>"
    )
    # A text body takes values as they are.
    assert rendering.render("{{debtorFirstName}}", values) == "<script>x</script>"


def test_every_placeholder_has_a_unique_name_label_and_example():
    names = [p.name for p in PLACEHOLDERS]
    assert len(names) == len(set(names))
    assert all(p.label and p.example for p in PLACEHOLDERS)
    assert "customBody" in names


@pytest.mark.parametrize(
    ("text", "characters", "encoding", "segments"),
    [
        ("", 0, "GSM-7", 0),
        ("a" * 160, 160, "GSM-7", 1),
        ("a" * 161, 161, "GSM-7", 2),
        ("a" * 306, 306, "GSM-7", 2),
        ("a" * 307, 307, "GSM-7", 3),
        ("€" * 80, 80, "GSM-7", 1),  # the extension counts twice: 160 units
        ("€" * 81, 81, "GSM-7", 2),
        ("ñ" * 70, 70, "GSM-7", 1),  # in the GSM alphabet
        ("ç" + "a" * 69, 70, "UCS-2", 1),  # lower-case ç is not
        ("ç" + "a" * 70, 71, "UCS-2", 2),
        ("😀" * 35, 35, "UCS-2", 1),  # outside the BMP: two units each
        ("😀" * 36, 36, "UCS-2", 2),
    ],
)
def test_sms_length_encoding_and_segments(text, characters, encoding, segments):
    measure = sms.measure(text)
    assert (measure.characters, measure.encoding, measure.segments) == (
        characters,
        encoding,
        segments,
    )


def test_the_140_character_rule_and_html_in_sms():
    assert not sms.measure("a" * 140).too_long
    assert sms.measure("a" * 141).too_long
    assert sms.has_html("Pay <a href='x'>here</a>")
    assert sms.has_html("<b>now</b>")
    assert not sms.has_html("Balance < $10 and > $5")
