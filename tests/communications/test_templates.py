"""Message templates: saved per company with a version per change of
content and an audit of every save; bad content refused by field, naming
the placeholder; another company's templates unseen and untouchable; the
editor's live SMS count; the preview with a chosen account."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.roles import ADMIN, COLLECTOR
from bulkops.models import AuditEvent
from communications.models import MessageTemplate, MessageTemplateVersion
from communications.services import save_template
from tests.factories import AccountFactory, DebtorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(company):
    return UserFactory(company=company, role=ADMIN)


@pytest.fixture
def outsider_admin(other_company):
    return UserFactory(company=other_company, role=ADMIN)


def sms_template(
    user, body="Hi {{debtorFirstName}}, call us about {{fileNumber}}. {{optOutText}}", **kw
):
    return save_template(user=user, channel="sms", name=kw.pop("name", "Reminder"), body=body, **kw)


def test_a_template_is_its_companys_and_each_content_change_a_version(admin, company):
    template = sms_template(admin)
    assert (template.company, template.version, template.updated_by) == (company, 1, admin)
    save_template(
        user=admin, template=template, name="Reminder", is_active=False
    )  # no content change
    template.refresh_from_db()
    assert (template.version, template.is_active) == (1, False)
    save_template(user=admin, template=template, body="Hello {{debtorFullName}}. {{optOutText}}")
    template.refresh_from_db()
    assert template.version == 2
    versions = MessageTemplateVersion.objects.filter(template=template)
    assert list(versions.values_list("version", "body")) == [
        (2, "Hello {{debtorFullName}}. {{optOutText}}"),
        (1, "Hi {{debtorFirstName}}, call us about {{fileNumber}}. {{optOutText}}"),
    ]
    events = AuditEvent.objects.filter(object_type="communications.messagetemplate").order_by("pk")
    assert [e.action for e in events] == [
        "message_template.created",
        "message_template.updated",
        "message_template.updated",
    ]
    assert events.last().changes["version"] == [1, 2]
    assert all(e.company_id == company.pk for e in events)


@pytest.mark.parametrize(
    ("channel", "fields", "field", "message"),
    [
        ("sms", {"body": "Hi {{debtorSSN}}"}, "body", "Unknown placeholder “{{debtorSSN}}”."),
        ("sms", {"body": "Pay <a href='x'>here</a>"}, "body", "An SMS is plain text"),
        ("sms", {"body": "{{optOutLink}}"}, "body", "can be used in emails only"),
        ("sms", {"body": "  "}, "body", "An SMS needs its text."),
        ("voice", {"body": ""}, "body", "A voice message needs its script."),
        ("email", {"subject": "", "html_body": "<p>x</p>"}, "subject", "An email needs a subject."),
        ("email", {"subject": "Hi"}, "html_body", "An email needs an HTML or a text body."),
        ("email", {"subject": "{% now 'Y' %}", "text_body": "x"}, "subject", "Template tags"),
        (
            "email",
            {"subject": "Hi", "html_body": "{{ account.debtor.ssn }}"},
            "html_body",
            "Malformed",
        ),
    ],
)
def test_bad_content_is_refused_by_field_and_nothing_saved(admin, channel, fields, field, message):
    with pytest.raises(ValidationError) as refused:
        save_template(user=admin, channel=channel, name="Bad", **fields)
    assert any(message in m for m in refused.value.message_dict[field]), refused.value.message_dict
    assert not MessageTemplate.objects.exists()
    assert not AuditEvent.objects.filter(object_type="communications.messagetemplate").exists()


def test_a_name_is_unique_per_channel_and_locale_within_a_company(admin, outsider_admin):
    sms_template(admin)
    with pytest.raises(ValidationError, match="already a template with this name"):
        sms_template(admin)
    sms_template(admin, locale="es-US")  # another locale
    sms_template(outsider_admin)  # another company
    assert MessageTemplate.objects.count() == 3


def test_another_companys_template_cannot_be_changed(admin, outsider_admin):
    theirs = sms_template(outsider_admin)
    with pytest.raises(PermissionDenied):
        save_template(user=admin, template=theirs, body="Mine now")
    theirs.refresh_from_db()
    assert theirs.body.startswith("Hi {{debtorFirstName}}")


def test_the_list_shows_only_the_companys_templates(client, admin, outsider_admin):
    sms_template(admin, name="Ours")
    sms_template(outsider_admin, name="Theirs")
    client.force_login(admin)
    content = client.get(reverse("communications:templates")).content.decode()
    assert "Ours" in content and "Theirs" not in content


def test_another_companys_template_is_404_everywhere(client, admin, outsider_admin):
    theirs = sms_template(outsider_admin)
    client.force_login(admin)
    for name in ("template-edit", "template-preview"):
        assert client.get(reverse(f"communications:{name}", args=[theirs.pk])).status_code == 404
    response = client.post(reverse("communications:template-edit", args=[theirs.pk]), {"name": "x"})
    assert response.status_code == 404


def test_the_editor_creates_and_refuses_naming_the_placeholder(client, admin):
    client.force_login(admin)
    url = reverse("communications:template-create", args=["sms"])
    response = client.post(url, {"name": "Bad", "locale": "en-US", "body": "Hi {{debtorNickname}}"})
    assert response.status_code == 200
    # Said once, under the field (the live count does not repeat it).
    assert response.content.decode().count("Unknown placeholder “{{debtorNickname}}”.") == 1
    assert not MessageTemplate.objects.exists()
    response = client.post(
        url,
        {
            "name": "Good",
            "locale": "en-US",
            "is_active": "on",
            "body": "Hi {{debtorFirstName}}. Reply STOP to opt out.",
        },
    )
    template = MessageTemplate.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/templates/{template.pk}/")
    assert client.get(reverse("communications:template-create", args=["fax"])).status_code == 404


def test_a_collector_reads_templates_but_cannot_write_them(client, company, admin):
    template = sms_template(admin)
    collector = UserFactory(company=company, role=COLLECTOR)
    client.force_login(collector)
    assert client.get(reverse("communications:templates")).status_code == 200
    assert (
        client.get(reverse("communications:template-edit", args=[template.pk])).status_code == 200
    )
    post = client.post(reverse("communications:template-edit", args=[template.pk]), {"name": "x"})
    assert post.status_code == 403
    create = reverse("communications:template-create", args=["sms"])
    assert client.post(create, {"name": "x", "body": "y"}).status_code == 403
    template.refresh_from_db()
    assert template.name == "Reminder"


def test_the_live_count_uses_the_examples_and_names_problems(client, admin):
    client.force_login(admin)
    url = reverse("communications:sms-measure")
    content = client.post(url, {"body": "Hi {{debtorFirstName}}"}).content.decode()
    assert "8 of 140 characters" in content and "1 segment (GSM-7)" in content  # "Hi Maria"
    content = client.post(url, {"body": "Olá ção " + "x" * 140}).content.decode()
    assert "148 of 140 characters" in content and "3 segments (UCS-2)" in content
    assert "text-danger fw-bold" in content
    content = client.post(url, {"body": "{{nope}}"}).content.decode()
    assert "Unknown placeholder “{{nope}}”." in content


def test_the_preview_renders_a_chosen_account_the_user_can_see(
    client, admin, company, other_company
):
    template = sms_template(
        admin, body="{{debtorFullName}} owes {{accountBalance}} ({{fileNumber}}) {{optOutText}}"
    )
    mine = AccountFactory(
        company=company,
        debtor=DebtorFactory(first_name="Zoë", last_name="<Müller>"),
        current_balance=Decimal("1234.5"),
    )
    theirs = AccountFactory(company=other_company)
    client.force_login(admin)
    url = reverse("communications:template-preview", args=[template.pk])
    content = client.get(url, {"file_number": mine.file_number.lower()}).content.decode()
    assert f"Zoë &lt;Müller&gt; owes $1,234.50 ({mine.file_number})" in content
    content = client.get(url, {"file_number": theirs.file_number}).content.decode()
    assert f"No account “{theirs.file_number}” that you can see" in content
    assert "Maria Lopez owes $1,250.00 (F1000042)" in content  # the examples


def test_the_html_preview_is_its_own_sandboxed_document(client, admin):
    template = save_template(
        user=admin,
        channel="email",
        name="Letter",
        subject="About {{fileNumber}}",
        html_body='<p style="color: red">Dear {{debtorFirstName}} <a href="{{optOutLink}}">Stop</a></p>',
    )
    client.force_login(admin)
    response = client.get(reverse("communications:template-preview-html", args=[template.pk]))
    assert response.content.decode() == (
        '<p style="color: red">Dear Maria <a href="https://example.com/optout/…">Stop</a></p>'
    )
    assert response["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    sms = sms_template(admin)
    assert (
        client.get(reverse("communications:template-preview-html", args=[sms.pk])).status_code
        == 404
    )


def test_the_demo_templates_are_valid():
    from communications.services import template_problems
    from demo.reference import MESSAGE_TEMPLATES

    for spec in MESSAGE_TEMPLATES:
        assert template_problems(spec["channel"], spec) == {}, spec["name"]
