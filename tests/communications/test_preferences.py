"""Contact preferences (seed 001: Customer Card > Info > Reminders), the
account page's "Contact preferences (Reminders)" section: consent and
opt-out per channel of every address and number, with date and source; do
not contact and preferred hours per debtor; legal stops and recorded
telephone conversations per account.

The services: each change is made and audited once, a change already made
changes nothing and writes no second audit event, the rules (source, the
legal window, one active stop of a kind) refuse with nothing changed. The
views: the permission (403), another company's account or another debtor's
number or another account's stop (404, nothing changed), CSRF, errors shown
beside their field, plain POSTs and htmx alike."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import DebtorEmail, DebtorPhone
from accounts.roles import COLLECTOR, SUPERVISOR
from bulkops.models import AuditEvent
from communications import preferences
from communications.models import ContactPreference, Conversation, LegalStop
from tests.conftest import Client
from tests.factories import (
    AccountFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "contact-preferences"}
NUMBER, ADDRESS = "+15555550142", "ann@example.net"


@pytest.fixture
def account(company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorEmailFactory(debtor=account.debtor, address=ADDRESS)
    DebtorPhoneFactory(debtor=account.debtor, number=NUMBER)
    return account


@pytest.fixture
def phone(account):
    return account.debtor.phones.get()


@pytest.fixture
def email(account):
    return account.debtor.emails.get()


@pytest.fixture
def foreign(other_company):
    """Another company's account, with a number of its own debtor."""
    account = AccountFactory(company=other_company)
    DebtorPhoneFactory(debtor=account.debtor, number="+15555550999")
    return account


@pytest.fixture
def viewer(company):
    """Sees accounts, may not change contact preferences."""
    user = UserFactory(username="viewer", company=company)
    user.user_permissions.add(Permission.objects.get(codename="view_account"))
    return user


def events(action=None):
    queryset = AuditEvent.objects.all()
    return queryset.filter(action=action) if action else queryset


# --- services ------------------------------------------------------------------------


def test_opting_a_channel_out_records_when_and_the_source_once(collector, account, phone):
    changes = preferences.set_channel(
        actor=collector,
        account=account,
        point=phone,
        channel="sms",
        consent=True,
        opted_out=True,
        source="Phone call",
    )
    phone.refresh_from_db()
    assert phone.sms_opted_out and phone.sms_opt_out_source == "Phone call"
    assert timezone.now() - phone.sms_opted_out_at < dt.timedelta(minutes=1)
    assert not phone.voice_opted_out and phone.sms_consent  # the rest as it was
    assert phone.sms_consent_at is None and phone.sms_consent_source == ""
    assert set(changes) == {"sms_opted_out", "sms_opted_out_at", "sms_opt_out_source"}
    [event] = events()
    assert (event.action, event.object_type, event.object_id) == (
        "contact_point.channel_changed",
        "accounts.debtorphone",
        phone.pk,
    )
    assert event.actor == collector and event.company_id == collector.company_id
    assert event.changes["sms_opted_out"] == [False, True]
    assert event.changes["sms_opt_out_source"] == ["", "Phone call"]

    # The same answers again (a double click, a stale tab): nothing at all.
    at = phone.sms_opted_out_at
    again = preferences.set_channel(
        actor=collector,
        account=account,
        point=phone,
        channel="sms",
        consent=True,
        opted_out=True,
        source="Letter",
    )
    assert again == {}
    phone.refresh_from_db()
    assert (phone.sms_opted_out_at, phone.sms_opt_out_source) == (at, "Phone call")
    assert events().count() == 1


def test_withdrawing_email_consent_dates_the_new_answer(collector, account, email):
    preferences.set_channel(
        actor=collector,
        account=account,
        point=email,
        channel="email",
        consent=False,
        opted_out=False,
        source="Letter",
    )
    email.refresh_from_db()
    assert not email.email_consent and email.email_consent_source == "Letter"
    assert email.email_consent_at is not None and not email.email_opted_out
    assert events("contact_point.channel_changed").get().object_type == "accounts.debtoremail"


def test_a_channel_change_needs_a_source_and_the_debtors_own_point(
    collector, account, phone, foreign
):
    other_number = foreign.debtor.phones.get()
    with pytest.raises(ValidationError):
        preferences.set_channel(
            actor=collector,
            account=account,
            point=phone,
            channel="sms",
            consent=True,
            opted_out=True,
            source="  ",
        )
    with pytest.raises(PermissionDenied):  # another debtor's number through this account
        preferences.set_channel(
            actor=collector,
            account=account,
            point=other_number,
            channel="sms",
            consent=True,
            opted_out=True,
            source="Call",
        )
    with pytest.raises(PermissionDenied):  # an account the collector may not see
        preferences.set_channel(
            actor=collector,
            account=foreign,
            point=other_number,
            channel="sms",
            consent=True,
            opted_out=True,
            source="Call",
        )
    with pytest.raises(ValueError):
        preferences.set_channel(
            actor=collector,
            account=account,
            point=phone,
            channel="email",
            consent=True,
            opted_out=True,
            source="Call",
        )
    assert not DebtorPhone.objects.filter(sms_opted_out=True).exists()
    assert not events().exists()


def test_changes_need_the_permission(viewer, account, phone):
    with pytest.raises(PermissionDenied):
        preferences.set_do_not_contact(
            actor=viewer, account=account, do_not_contact=True, source="Call"
        )
    assert not ContactPreference.objects.exists() and not events().exists()


def test_do_not_contact_set_then_cleared(collector, account):
    with pytest.raises(ValidationError):
        preferences.set_do_not_contact(actor=collector, account=account, do_not_contact=True)
    assert not events().exists()
    assert ContactPreference.objects.filter(do_not_contact=True).count() == 0

    assert preferences.set_do_not_contact(
        actor=collector, account=account, do_not_contact=True, source="Debtor's letter"
    )
    preference = ContactPreference.objects.get(pk=account.debtor_id)
    assert preference.do_not_contact and preference.do_not_contact_source == "Debtor's letter"
    assert preference.do_not_contact_at is not None and preference.updated_by == collector
    assert not preferences.set_do_not_contact(
        actor=collector, account=account, do_not_contact=True, source="Again"
    )
    assert events("contact_preference.do_not_contact_changed").count() == 1

    assert preferences.set_do_not_contact(actor=collector, account=account, do_not_contact=False)
    preference.refresh_from_db()
    assert not preference.do_not_contact
    assert (preference.do_not_contact_at, preference.do_not_contact_source) == (None, "")
    [cleared] = events("contact_preference.do_not_contact_changed").order_by("-pk")[:1]
    assert cleared.changes["do_not_contact_source"] == ["Debtor's letter", ""]
    assert cleared.object_type == "communications.contactpreference"
    assert cleared.object_id == account.debtor_id


def test_clearing_what_was_never_set_writes_nothing(collector, account):
    assert not preferences.set_do_not_contact(
        actor=collector, account=account, do_not_contact=False
    )
    assert not preferences.set_preferred_hours(
        actor=collector, account=account, preferred_from=None, preferred_to=None
    )
    assert not events().exists()


def test_preferred_hours(collector, account):
    ten, five = dt.time(10), dt.time(17)
    changes = preferences.set_preferred_hours(
        actor=collector, account=account, preferred_from=ten, preferred_to=five
    )
    assert changes == {"preferred_from": (None, ten), "preferred_to": (None, five)}
    assert not preferences.set_preferred_hours(
        actor=collector, account=account, preferred_from=ten, preferred_to=five
    )
    [event] = events("contact_preference.hours_changed")
    assert event.changes == {
        "preferred_from": [None, "10:00"],
        "preferred_to": [None, "17:00"],
    }
    preferences.set_preferred_hours(
        actor=collector, account=account, preferred_from=None, preferred_to=None
    )
    preference = ContactPreference.objects.get(pk=account.debtor_id)
    assert (preference.preferred_from, preference.preferred_to) == (None, None)
    assert events("contact_preference.hours_changed").count() == 2


@pytest.mark.parametrize(
    "start, end, field",
    [
        (dt.time(10), None, "preferred_to"),
        (None, dt.time(10), "preferred_from"),
        (dt.time(7, 30), dt.time(12), "preferred_from"),
        (dt.time(9), dt.time(21, 30), "preferred_to"),
        (dt.time(15), dt.time(11), "preferred_to"),
        (dt.time(11), dt.time(11), "preferred_to"),
    ],
)
def test_preferred_hours_lie_inside_the_legal_window(collector, account, start, end, field):
    with pytest.raises(ValidationError) as refused:
        preferences.set_preferred_hours(
            actor=collector, account=account, preferred_from=start, preferred_to=end
        )
    assert set(refused.value.message_dict) == {field}
    assert not ContactPreference.objects.exclude(preferred_from=None).exists()
    assert not events().exists()


def test_the_whole_legal_window_is_allowed(collector, account):
    assert preferences.set_preferred_hours(
        actor=collector, account=account, preferred_from=dt.time(8), preferred_to=dt.time(21)
    )


def stop_values(**overrides):
    values = {
        "kind": LegalStop.Kind.ATTORNEY,
        "since": timezone.localdate(),
        "source": "Attorney's letter",
        "note": "Smith & Co",
    }
    return {**values, **overrides}


def test_a_legal_stop_once_per_kind(collector, account):
    stop, created = preferences.add_legal_stop(actor=collector, account=account, **stop_values())
    assert created and stop.created_by == collector and stop.ended_at is None
    [event] = events("legal_stop.added")
    assert event.company_id == account.company_id and event.changes["kind"] == [None, "attorney"]

    # The same stop again (a double click): the one already there.
    again, created = preferences.add_legal_stop(actor=collector, account=account, **stop_values())
    assert (again, created) == (stop, False)
    # Another of the same kind while it lasts: refused, with the reason.
    with pytest.raises(ValidationError) as refused:
        preferences.add_legal_stop(
            actor=collector, account=account, **stop_values(note="Another firm")
        )
    assert "already has an active “Attorney represented” stop" in str(refused.value)
    # Another kind: fine.
    preferences.add_legal_stop(
        actor=collector, account=account, **stop_values(kind=LegalStop.Kind.DISPUTE)
    )
    assert LegalStop.objects.count() == 2 and events("legal_stop.added").count() == 2


def test_the_database_refuses_a_second_active_stop_added_at_the_same_moment(
    collector, account, monkeypatch
):
    """Two requests that both found no active stop: the partial unique index
    refuses the second, which gets the same clear refusal and changes nothing."""
    preferences.add_legal_stop(actor=collector, account=account, **stop_values())
    monkeypatch.setattr(preferences, "_active_stop", lambda account, kind: None)
    with pytest.raises(ValidationError) as refused:
        preferences.add_legal_stop(
            actor=collector, account=account, **stop_values(note="At the same moment")
        )
    assert "already has an active" in str(refused.value)
    assert LegalStop.objects.count() == 1 and events("legal_stop.added").count() == 1


def test_a_legal_stop_cannot_start_tomorrow(collector, account):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ValidationError):
        preferences.add_legal_stop(actor=collector, account=account, **stop_values(since=tomorrow))
    with pytest.raises(ValidationError):
        preferences.add_legal_stop(actor=collector, account=account, **stop_values(source=""))
    assert not LegalStop.objects.exists() and not events().exists()


def test_ending_a_stop_once_then_adding_another(collector, account, foreign):
    stop, _ = preferences.add_legal_stop(actor=collector, account=account, **stop_values())
    assert preferences.end_legal_stop(actor=collector, account=account, stop=stop)
    stop.refresh_from_db()
    assert stop.ended_at is not None and stop.ended_by == collector
    assert not preferences.end_legal_stop(actor=collector, account=account, stop=stop)
    [ended] = events("legal_stop.ended")
    assert ended.changes["ended_at"][0] is None and ended.company_id == account.company_id

    # Ended, the kind may be recorded again.
    _, created = preferences.add_legal_stop(actor=collector, account=account, **stop_values())
    assert created

    other = LegalStop.objects.create(account=foreign, kind=LegalStop.Kind.DECEASED)
    with pytest.raises(PermissionDenied):  # another account's stop, through this one
        preferences.end_legal_stop(actor=collector, account=account, stop=other)
    other.refresh_from_db()
    assert other.ended_at is None


def test_recording_a_conversation_once(collector, account):
    at = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    conversation, created = preferences.record_conversation(
        actor=collector, account=account, at=at, note=" Promised to pay Friday "
    )
    assert created and conversation.note == "Promised to pay Friday"
    assert conversation.recorded_by == collector
    same, created = preferences.record_conversation(
        actor=collector, account=account, at=at, note="Promised to pay Friday"
    )
    assert (same, created) == (conversation, False)
    [event] = events("conversation.recorded")
    assert event.company_id == account.company_id
    with pytest.raises(ValidationError):
        preferences.record_conversation(
            actor=collector, account=account, at=timezone.now() + dt.timedelta(hours=1)
        )
    assert Conversation.objects.count() == 1


def test_the_section_masks_and_lists(collector, supervisor, account, phone, email):
    LegalStop.objects.create(account=account, kind=LegalStop.Kind.DISPUTE, source="Letter")
    LegalStop.objects.create(
        account=account,
        kind=LegalStop.Kind.ATTORNEY,
        ended_at=timezone.now(),
    )
    masked = preferences.preferences_of(collector, account)
    assert [(r.kind, r.channel, r.shown) for r in masked.channels] == [
        ("email", "email", "a***@example.net"),
        ("phone", "sms", "***-***-0142"),
        ("phone", "voice", "***-***-0142"),
    ]
    assert [s.kind for s in masked.active_stops] == ["dispute"]
    assert [s.kind for s in masked.ended_stops] == ["attorney"]
    assert masked.preference._state.adding  # no row until something is set
    assert not ContactPreference.objects.exists()
    unmasked = preferences.preferences_of(supervisor, account)
    assert [r.shown for r in unmasked.channels] == [ADDRESS, NUMBER, NUMBER]


# --- views ---------------------------------------------------------------------------


def detail(client, account) -> str:
    response = client.get(reverse("accounts:detail", args=[account.pk]))
    assert response.status_code == 200
    return response.content.decode()


def channel_url(account, point, channel, kind="phone"):
    return reverse("preferences:channel", args=[account.pk, kind, point.pk, channel])


OPT_OUT = {"consent": "yes", "opted_out": "yes", "source": "Phone call"}


def test_the_account_page_shows_the_section_first_and_the_forms_on_asking(
    client, collector, account
):
    client.force_login(collector)
    html = detail(client, account)
    assert 'data-testid="account-preferences"' in html
    assert "Contact preferences (Reminders)" in html
    assert html.index("account-preferences") < html.index("account-claims")
    assert "***-***-0142" in html and NUMBER not in html  # masked as everywhere
    section = html.split('id="contact-preferences"')[1].split("</section>")[0]
    assert "<form" not in section  # not drawn until asked for
    page_url = reverse("preferences:page", args=[account.pk])
    assert f'href="{page_url}" hx-get="{page_url}"' in section
    # The link: with htmx the section alone, its forms drawn, the heading focused.
    swapped = client.get(page_url, headers=HTMX).content.decode()
    assert swapped.lstrip().startswith("<section") and "<h1" not in swapped
    assert 'data-testid="form-phone-' in swapped and "Record the conversation" in swapped
    assert swapped.count('name="csrfmiddlewaretoken"') >= 7  # every form posts with its token
    assert 'tabindex="-1" autofocus' in swapped and "preferences-edit" not in swapped
    # Without JavaScript: the page of its own, with the same forms.
    whole = client.get(page_url).content.decode()
    assert "<h1" in whole and 'data-testid="form-phone-' in whole


def test_without_the_permission_the_section_shows_but_no_form(client, viewer, account, phone):
    phone.sms_opted_out, phone.sms_opt_out_source = True, "Letter"
    phone.save()
    client.force_login(viewer)
    html = detail(client, account)
    assert 'data-testid="account-preferences"' in html and "Letter" in html
    assert "<form" not in html.split('id="contact-preferences"')[1].split("</section>")[0]


@pytest.mark.parametrize(
    "name, args, data",
    [
        ("channel", ("phone", None, "sms"), OPT_OUT),
        ("do-not-contact", (), {"do_not_contact": "yes", "source": "Call"}),
        ("hours", (), {"preferred_from": "10:00", "preferred_to": "17:00"}),
        ("stop-add", (), {"kind": "attorney", "since": "2026-01-05", "source": "Letter"}),
        ("conversation", (), {"at": "2026-01-05T10:00", "note": "Called"}),
    ],
)
def test_every_change_needs_the_permission(client, viewer, account, phone, name, args, data):
    client.force_login(viewer)
    args = tuple(phone.pk if a is None else a for a in args)
    response = client.post(reverse(f"preferences:{name}", args=[account.pk, *args]), data)
    assert response.status_code == 403
    phone.refresh_from_db()
    assert not phone.sms_opted_out
    assert not ContactPreference.objects.exists() and not LegalStop.objects.exists()
    assert not Conversation.objects.exists() and not events().exists()


def test_ending_a_stop_needs_the_permission(client, viewer, account):
    stop = LegalStop.objects.create(account=account, kind=LegalStop.Kind.DISPUTE)
    client.force_login(viewer)
    assert (
        client.post(reverse("preferences:stop-end", args=[account.pk, stop.pk])).status_code == 403
    )
    stop.refresh_from_db()
    assert stop.ended_at is None


def test_another_companys_rows_are_not_found(client, collector, account, phone, foreign):
    """Another company's account, or its debtor's number or its stop reached
    through one's own account: 404, and nothing changes."""
    client.force_login(collector)
    other_number = foreign.debtor.phones.get()
    other_stop = LegalStop.objects.create(account=foreign, kind=LegalStop.Kind.DECEASED)
    attempts = [
        (channel_url(foreign, other_number, "sms"), OPT_OUT),
        (channel_url(account, other_number, "sms"), OPT_OUT),
        (reverse("preferences:stop-end", args=[account.pk, other_stop.pk]), {}),
        (reverse("preferences:stop-end", args=[foreign.pk, other_stop.pk]), {}),
        (reverse("preferences:do-not-contact", args=[foreign.pk]), {"do_not_contact": "yes",
                                                                    "source": "x"}),
        (reverse("preferences:stop-add", args=[foreign.pk]), {"kind": "cease", "since":
                                                              "2026-01-05", "source": "x"}),
        (reverse("preferences:conversation", args=[foreign.pk]), {"at": "2026-01-05T10:00"}),
        (channel_url(account, phone, "email"), OPT_OUT),  # a phone has no email channel
        (channel_url(account, phone, "sms", kind="email"), OPT_OUT),  # nor is it an address
    ]  # fmt: skip
    for url, data in attempts:
        assert client.post(url, data).status_code == 404, url
    assert client.get(reverse("preferences:page", args=[foreign.pk])).status_code == 404
    other_number.refresh_from_db()
    other_stop.refresh_from_db()
    assert not other_number.sms_opted_out and other_stop.ended_at is None
    assert not ContactPreference.objects.exists()
    assert LegalStop.objects.count() == 1 and not Conversation.objects.exists()
    assert not events().exists()


def test_an_opt_out_then_the_same_post_again(client, collector, account, phone):
    client.force_login(collector)
    url = channel_url(account, phone, "sms")
    response = client.post(url, OPT_OUT, follow=True)
    assert response.redirect_chain[-1][0].endswith(
        reverse("accounts:detail", args=[account.pk]) + "#contact-preferences"
    )
    html = response.content.decode()
    assert "SMS at ***-***-0142 saved: consent yes, opted out yes." in html
    phone.refresh_from_db()
    assert phone.sms_opted_out and phone.sms_opt_out_source == "Phone call"
    row = html.split(f'data-testid="channel-phone-{phone.pk}-sms"')[1].split("</tr>")[0]
    opted_out_cell = row.split('data-testid="opted-out"')[1].split("</td>")[0]
    assert "Yes" in opted_out_cell and "Phone call" in opted_out_cell
    assert timezone.localtime(phone.sms_opted_out_at).strftime("%Y-%m-%d %H:%M") in opted_out_cell

    again = client.post(url, OPT_OUT, follow=True).content.decode()
    assert "already had consent yes, opted out yes: nothing changed." in again
    assert events("contact_point.channel_changed").count() == 1


def test_a_missing_source_is_shown_beside_its_field_and_changes_nothing(
    client, collector, account, phone
):
    client.force_login(collector)
    response = client.post(channel_url(account, phone, "sms"), {**OPT_OUT, "source": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not saved" in html and "Say where this came from" in html
    key = f"pref-phone-{phone.pk}-sms-source"
    # The input points to its help and its error; both are there with those ids.
    field = re.search(rf'<input[^>]*id="{key}"[^>]*>', html).group(0)
    assert f'aria-describedby="{key}_helptext {key}_error"' in field
    assert 'aria-invalid="true"' in field
    assert f'id="{key}_error"' in html and f'id="{key}_helptext"' in html
    assert re.search(r"<details open>\s*<summary>Change", html)  # the refused form is open
    assert "<h1" in html  # a page of its own (no JavaScript)
    phone.refresh_from_db()
    assert not phone.sms_opted_out and not events().exists()


def test_htmx_gets_the_section_alone(client, collector, account, phone):
    client.force_login(collector)
    url = channel_url(account, phone, "sms")
    done = client.post(url, OPT_OUT, headers=HTMX)
    assert done.status_code == 200
    html = done.content.decode()
    assert html.lstrip().startswith("<section") and "<h1" not in html
    assert 'role="status"' in html and "saved: consent yes, opted out yes" in html
    refused = client.post(url, {**OPT_OUT, "source": ""}, headers=HTMX).content.decode()
    assert "<h1" not in refused and "Not saved" in refused
    assert events().count() == 1


def test_csrf_is_required(collector, account, phone):
    client = Client(enforce_csrf_checks=True)
    client.force_login(collector)
    assert client.post(channel_url(account, phone, "sms"), OPT_OUT).status_code == 403
    phone.refresh_from_db()
    assert not phone.sms_opted_out


def test_changes_are_posts(client, collector, account):
    client.force_login(collector)
    assert client.get(reverse("preferences:hours", args=[account.pk])).status_code == 405


def test_do_not_contact_through_the_page(client, collector, account):
    client.force_login(collector)
    url = reverse("preferences:do-not-contact", args=[account.pk])
    refused = client.post(url, {"do_not_contact": "yes", "source": ""}).content.decode()
    assert "Say who asked not to be contacted" in refused
    assert not ContactPreference.objects.filter(do_not_contact=True).exists()
    html = client.post(url, {"do_not_contact": "yes", "source": "Phone call"}, follow=True)
    html = html.content.decode()
    assert "Do not contact set." in html  # back on the account page
    page = client.get(reverse("preferences:page", args=[account.pk])).content.decode()
    assert "Clear do not contact" in page  # where the forms are
    client.post(url, {"do_not_contact": "yes", "source": "Phone call"})
    client.post(url, {"do_not_contact": "no"})
    client.post(url, {"do_not_contact": "no"})  # a stale tab's Clear
    assert events("contact_preference.do_not_contact_changed").count() == 2
    assert not ContactPreference.objects.get(pk=account.debtor_id).do_not_contact


@pytest.mark.parametrize(
    "data, error",
    [
        ({"preferred_from": "07:00", "preferred_to": "12:00"}, "the legal window"),
        ({"preferred_from": "10:00", "preferred_to": "21:30"}, "the legal window"),
        ({"preferred_from": "17:00", "preferred_to": "10:00"}, "end after they start"),
        ({"preferred_from": "10:00", "preferred_to": ""}, "the time the preferred hours end"),
        ({"preferred_from": "ten", "preferred_to": "17:00"}, "Enter a valid time."),
    ],
)
def test_preferred_hours_errors(client, collector, account, data, error):
    client.force_login(collector)
    response = client.post(reverse("preferences:hours", args=[account.pk]), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not ContactPreference.objects.exclude(preferred_from=None).exists()
    assert not events().exists()


def test_preferred_hours_set_and_cleared(client, collector, account):
    client.force_login(collector)
    url = reverse("preferences:hours", args=[account.pk])
    html = client.post(url, {"preferred_from": "10:00", "preferred_to": "17:00"}, follow=True)
    assert "Preferred hours: 10:00–17:00." in html.content.decode()
    assert "10:00–17:00" in html.content.decode().split('data-testid="preferred-hours"')[1]
    cleared = client.post(url, {}, follow=True).content.decode()  # the Clear button
    assert "Preferred hours: none." in cleared
    assert events("contact_preference.hours_changed").count() == 2


def test_legal_stops_through_the_page(client, collector, account):
    client.force_login(collector)
    url = reverse("preferences:stop-add", args=[account.pk])
    today = timezone.localdate().isoformat()
    data = {"kind": "attorney", "since": today, "source": "Letter", "note": "Smith & Co"}
    html = client.post(url, data, follow=True).content.decode()
    assert "Legal stop “Attorney represented” since" in html and "recorded." in html
    assert 'data-testid="stop-attorney"' in html and "Smith &amp; Co" in html
    assert (
        "was already recorded: nothing changed"
        in client.post(url, data, follow=True).content.decode()
    )
    refused = client.post(url, {**data, "note": "Another"}).content.decode()
    assert "already has an active “Attorney represented” stop" in refused
    assert 'id="pref-stop-kind_error"' in refused  # beside the field it is about
    missing = client.post(url, {"since": today}).content.decode()
    assert "Choose the kind of stop." in missing and "Say where this came from" in missing
    assert LegalStop.objects.count() == 1 and events("legal_stop.added").count() == 1

    stop = LegalStop.objects.get()
    end = reverse("preferences:stop-end", args=[account.pk, stop.pk])
    assert "ended." in client.post(end, follow=True).content.decode()
    html = client.post(end, follow=True).content.decode()
    assert "had already ended: nothing changed." in html
    assert 'data-testid="ended-stops"' in html and "No active legal stop." in html
    assert events("legal_stop.ended").count() == 1


def test_record_a_conversation_through_the_page(client, collector, account):
    client.force_login(collector)
    url = reverse("preferences:conversation", args=[account.pk])
    moment = timezone.localtime() - dt.timedelta(hours=1)
    data = {"at": moment.strftime("%Y-%m-%dT%H:%M"), "note": "Disputes the fee"}
    html = client.post(url, data, follow=True).content.decode()
    assert (
        "recorded." in html and "Disputes the fee" in html.split('data-testid="conversations"')[1]
    )
    assert "was already recorded" in client.post(url, data, follow=True).content.decode()
    future = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(url, {"at": future}).content.decode()
    assert "cannot be in the future" in refused
    assert Conversation.objects.count() == 1 and events("conversation.recorded").count() == 1


def test_the_page_of_its_own(client, collector, account):
    client.force_login(collector)
    response = client.get(reverse("preferences:page", args=[account.pk]))
    assert response.status_code == 200
    assert "Contact preferences (Reminders)" in response.content.decode()


def test_a_supervisor_sees_the_numbers_unmasked(client, account):
    supervisor = UserFactory(company=account.company, role=SUPERVISOR)
    client.force_login(supervisor)
    html = detail(client, account)
    section = html.split('id="contact-preferences"')[1].split("</section>")[0]
    assert NUMBER in section and ADDRESS in section


def test_an_email_address_consent_through_the_page(client, account, email):
    collector = UserFactory(company=account.company, role=COLLECTOR)
    client.force_login(collector)
    data = {"consent": "no", "opted_out": "no", "source": "Email from the debtor"}
    client.post(channel_url(account, email, "email", kind="email"), data)
    email = DebtorEmail.objects.get(pk=email.pk)
    assert not email.email_consent and email.email_consent_source == "Email from the debtor"


def test_a_tampered_hidden_value_is_refused_visibly(client, collector, account):
    client.force_login(collector)
    url = reverse("preferences:do-not-contact", args=[account.pk])
    html = client.post(url, {"do_not_contact": "maybe", "source": "x"}).content.decode()
    assert "Not saved" in html and "Select a valid choice." in html
    assert not ContactPreference.objects.exists() and not events().exists()
