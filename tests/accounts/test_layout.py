"""Edit Layout and Save on the account page: layouts per user over the
company's default, every posted part checked; the details edited in place,
validated, audited, and refused when stale or beyond the user's role."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import details, layout
from accounts.models import AccountPageLayout, CustomField, CustomFieldValue, Debtor
from accounts.roles import COLLECTOR
from bulkops.models import AuditEvent
from tests.factories import AccountFactory, DebtorEmailFactory, DebtorPhoneFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company):
    account = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=account.debtor, number="+15555550100")
    DebtorEmailFactory(debtor=account.debtor, address="pat@example.net")
    return account


@pytest.fixture
def employer(company):
    return CustomField.objects.create(company=company, name="Employer", key="employer")


def keys(user):
    return [w.key for w in layout.layout_for(user)]


# --- layouts ---------------------------------------------------------------------------


def test_without_a_layout_every_widget_in_registry_order(collector):
    shown = keys(collector)
    assert shown[:2] == ["account", "contact_details"]
    assert "history" not in shown  # a collector may not read the audit


def test_a_user_s_layout_over_the_company_default(collector, supervisor, admin_user):
    default = layout.parse_layout(
        admin_user, json.dumps([{"key": "claims", "width": 12}, {"key": "account", "width": 4}])
    )
    layout.save_layout(actor=admin_user, widgets=default, company_default=True)
    assert keys(collector) == ["claims", "account"]
    mine = layout.parse_layout(collector, json.dumps([{"key": "account", "width": 6}]))
    layout.save_layout(actor=collector, widgets=mine)
    assert keys(collector) == ["account"] and keys(supervisor) == ["claims", "account"]
    layout.reset_layout(actor=collector)
    assert keys(collector) == ["claims", "account"]


def test_only_an_admin_sets_the_company_default(collector):
    widgets = layout.parse_layout(collector, json.dumps([{"key": "account", "width": 6}]))
    with pytest.raises(PermissionDenied):
        layout.save_layout(actor=collector, widgets=widgets, company_default=True)
    assert not AccountPageLayout.objects.exists()


@pytest.mark.parametrize(
    "posted, message",
    [
        ("not json", "could not be read"),
        ("[]", "at least one widget"),
        ('[{"key": "nope", "width": 6}]', "no widget"),
        ('[{"key": "history", "width": 6}]', "no widget"),  # not the collector's
        ('[{"key": "account", "width": 5}]', "not a width"),
        ('[{"key": "account", "width": 6}, {"key": "account", "width": 4}]', "twice"),
        ('[{"label": "", "fields": [1], "width": 6}]', "needs a label"),
        ('[{"label": "Job", "fields": [], "width": 6}]', "Choose the custom fields"),
    ],
)
def test_a_bad_layout_is_refused_with_the_reason(collector, posted, message):
    with pytest.raises(ValidationError, match=message):
        layout.parse_layout(collector, posted)


def test_a_custom_widget_names_only_offered_custom_fields(collector, employer, other_company):
    theirs = CustomField.objects.create(company=other_company, name="Theirs", key="theirs")
    with pytest.raises(ValidationError, match="not offered"):
        layout.parse_layout(
            collector, json.dumps([{"label": "Job", "fields": [theirs.pk], "width": 6}])
        )
    ok = layout.parse_layout(
        collector, json.dumps([{"label": " My   job ", "fields": [employer.pk], "width": 6}])
    )
    assert ok == [{"label": "My job", "fields": [employer.pk], "width": 6}]


def test_add_widget_appends_a_predefined_or_custom_widget(client, collector, account, employer):
    client.force_login(collector)
    current = json.dumps([{"key": "account", "width": 4}])
    client.post(
        reverse("accounts:layout-add"),
        {"layout": current, "kind": "predefined", "widget": "claims", "account": account.pk},
    )
    assert keys(collector) == ["account", "claims"]
    client.post(
        reverse("accounts:layout-add"),
        {
            "layout": json.dumps([w.as_json() for w in layout.layout_for(collector)]),
            "kind": "custom",
            "label": "Employment",
            "fields": [employer.pk],
            "account": account.pk,
        },
    )
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Employment" in page and 'data-testid="widget-custom"' in page
    hidden = [s.key for s in layout.hidden_widgets(collector, layout.layout_for(collector))]
    assert "contact_details" in hidden and "claims" not in hidden


def test_a_tampered_layout_post_changes_nothing(client, collector, account):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:layout-save"),
        {"layout": '[{"key": "<script>", "width": 6}]', "account": account.pk},
        follow=True,
    )
    assert "no widget" in response.content.decode() and "<script>" not in response.content.decode()
    assert not AccountPageLayout.objects.exists()


def test_the_details_tab_takes_a_fixed_number_of_queries(client, supervisor, account):
    from accounts.models import Note
    from bulkops.services import record_audit_event

    client.force_login(supervisor)
    url = reverse("accounts:detail", args=[account.pk])

    def count() -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    Note.objects.bulk_create(Note(account=account, body=f"n{n}") for n in range(200))
    for n in range(30):
        record_audit_event(
            actor=supervisor, action="account.stage_updated", obj=account, changes={"n": (n, n + 1)}
        )
    assert few == count() == 23


# --- Save --------------------------------------------------------------------------------


def values(account, user):
    return details.current_values(account, details.custom_fields_of(user))


def test_save_changes_the_address_a_number_and_a_custom_field_with_audit(
    supervisor, account, employer
):
    loaded = details.fingerprint(values(account, supervisor))
    phone = account.debtor.phones.get()
    changes = details.save_details(
        actor=supervisor,
        account=account,
        loaded_fingerprint=loaded,
        address={
            "address_line1": "1 Main St",
            "city": "Boston",
            "state": "ma",
            "postal_code": "02101",
        },
        phones={str(phone.pk): "+1 (555) 555-0199"},
        custom={str(employer.pk): "Acme Corp"},
    )
    debtor = Debtor.objects.get(pk=account.debtor_id)
    assert (debtor.city, debtor.state) == ("Boston", "MA")
    phone.refresh_from_db()
    assert phone.number == "+15555550199"
    assert CustomFieldValue.objects.get(account=account, field=employer).value == "Acme Corp"
    event = AuditEvent.objects.get(action="account.details_edited")
    assert event.changes[f"phone {phone.pk}"] == ["***-***-0100", "***-***-0199"]
    assert set(changes) >= {"city", "state", "custom: Employer"}


def test_a_stale_save_says_so_and_overwrites_nothing(supervisor, account):
    loaded = details.fingerprint(values(account, supervisor))
    Debtor.objects.filter(pk=account.debtor_id).update(city="Somewhere else")
    with pytest.raises(ValidationError, match="changed by someone else"):
        details.save_details(
            actor=supervisor,
            account=account,
            loaded_fingerprint=loaded,
            address={"city": "Mine"},
        )
    assert Debtor.objects.get(pk=account.debtor_id).city == "Somewhere else"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"address": {"state": "ZZ"}}, "not a US state"),
        ({"address": {"postal_code": "1234"}}, "ZIP"),
        ({"phones": {"PHONE": "555"}}, "not a number like"),
        ({"emails": {"EMAIL": "not-an-email"}}, "not an email address"),
        ({"phones": {"999999": "+15555550123"}}, "not this account"),
    ],
)
def test_a_bad_value_refuses_the_whole_save(supervisor, account, kwargs, message):
    before = values(account, supervisor)
    phone, email = account.debtor.phones.get(), account.debtor.emails.get()
    for name in ("phones", "emails"):
        if name in kwargs:
            kwargs[name] = {
                k.replace("PHONE", str(phone.pk)).replace("EMAIL", str(email.pk)): v
                for k, v in kwargs[name].items()
            }
    if "address" in kwargs:
        kwargs["address"] = {"address_line1": "Changed", **kwargs["address"]}
    with pytest.raises(ValidationError, match=message):
        details.save_details(
            actor=supervisor,
            account=account,
            loaded_fingerprint=details.fingerprint(before),
            **kwargs,
        )
    assert values(account, supervisor) == before


@pytest.mark.parametrize(
    "field_type, raw, stored",
    [
        ("number", "1,250.50", "1250.5"),
        ("date", "2026-01-31", "2026-01-31"),
        ("boolean", "Yes", "yes"),
        ("choice", "Gold", "Gold"),
    ],
)
def test_custom_values_are_checked_by_type(company, field_type, raw, stored):
    field = CustomField(
        company=company, name="F", key="f", field_type=field_type, choices="Gold\nSilver"
    )
    assert details.clean_custom_value(field, raw) == stored
    with pytest.raises(ValidationError):
        details.clean_custom_value(field, "not-valid-for-any")


def test_a_collector_may_not_change_custom_fields(collector, account, employer):
    loaded = details.fingerprint(values(account, collector))
    with pytest.raises(PermissionDenied):
        details.save_details(
            actor=collector,
            account=account,
            loaded_fingerprint=loaded,
            custom={str(employer.pk): "x"},
        )
    assert not CustomFieldValue.objects.exists()


def test_the_save_page_refuses_another_company_s_account(client, other_company):
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    account = AccountFactory()
    client.force_login(stranger)
    response = client.post(reverse("accounts:details-save", args=[account.pk]), {"city": "x"})
    assert response.status_code == 404


def test_the_save_page_saves_and_reports(client, supervisor, account):
    client.force_login(supervisor)
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert 'form="account-details-form"' in page
    loaded = details.fingerprint(values(account, supervisor))
    response = client.post(
        reverse("accounts:details-save", args=[account.pk]),
        {
            "fingerprint": loaded,
            "address_line1": "9 Elm",
            "city": "Albany",
            "state": "NY",
            "postal_code": "12207",
            "address_line2": "",
        },
        follow=True,
    )
    assert "Saved: 1 change" in response.content.decode()
