"""The gate's set-based screen (``communications.screen``, PostgreSQL)
against the rules themselves: batches of every channel over debtors with
each thing a rule reads (addresses in another case or outside ASCII,
opt-outs, invalid and unconsented points, legal stops in force and ended,
do not contact, preferred hours with and without Ignore Contact
Preferences, weekly caps nearly reached by what was sent and by the batch
itself, calls placed, a conversation, state call limits, every source of a
time zone and none), decided with the screen and without it at moments
when the candidate zones agree and when they do not: the same decisions,
message for message."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from accounts.models import ContactPoint, DebtorEmail, DebtorPhone
from communications import gate, screen
from communications.models import (
    ContactPolicy,
    ContactPreference,
    Conversation,
    LegalStop,
    Message,
    StateCallLimit,
)
from tests.factories import AccountFactory, CompanyFactory, DebtorFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="The screen is PostgreSQL's (SQLite has none)."
    ),
]

NEW_YORK = ZoneInfo("America/New_York")
DAY = dt.date(2026, 12, 2)
# (ZIP code, state, debtor's own zone, primary number): New York, Chicago,
# a ZIP code of one zone and a number of another, Indiana by its state
# alone, a zone the debtor told the agency, nothing at all.
PLACES = [
    ("10001", "NY", "", "+12125550100"),
    ("60601", "IL", "", "+13125550100"),
    ("10001", "NY", "", "+13125550111"),
    ("", "IN", "", ""),
    ("", "", "America/Phoenix", ""),
    ("", "", "", "+15555550100"),
    ("", "", "", ""),
    ("99501", "AK", "", "+19075550100"),
    ("02108", "MA", "", "+16175550100"),
]


def build_batch(rng: random.Random, now: dt.datetime) -> list[Message]:
    companies = [CompanyFactory(), CompanyFactory()]
    ContactPolicy.objects.create(company=companies[0], max_emails_per_week=2, max_texts_per_week=1)
    ContactPolicy.objects.create(company=companies[1], max_emails_per_week=0)
    # Massachusetts' own (a migration's) and a company's stricter one.
    StateCallLimit.objects.update_or_create(
        company=None, state="MA", defaults={"max_calls": 2, "days": 7}
    )
    StateCallLimit.objects.create(company=companies[1], state="MA", max_calls=3, days=10)
    messages = []
    for n in range(60):
        company = rng.choice(companies)
        postal_code, state, zone, primary = rng.choice(PLACES)
        debtor = DebtorFactory(postal_code=postal_code, state=state, timezone=zone)
        accounts = [AccountFactory(company=company, debtor=debtor)]
        if rng.random() < 0.3:  # a second account of the same debtor
            accounts.append(AccountFactory(company=company, debtor=debtor))
        address = f"Debtor{n}@Example.net"
        DebtorEmail.objects.create(
            debtor=debtor,
            address=address if rng.random() < 0.5 else address.lower(),
            is_primary=True,
            email_opted_out=rng.random() < 0.1,
            email_consent=rng.random() > 0.1,
            validity=ContactPoint.Validity.INVALID if rng.random() < 0.1 else "unknown",
        )
        if rng.random() < 0.1:
            DebtorEmail.objects.create(debtor=debtor, address=f"strasse{n}@bücher.example")
        if rng.random() < 0.2:  # the same address again, in capitals, made later
            DebtorEmail.objects.create(
                debtor=debtor, address=address.upper(), email_opted_out=rng.random() < 0.5
            )
        number = primary or f"+1212555{n:04d}"
        DebtorPhone.objects.create(
            debtor=debtor,
            number=number,
            is_primary=bool(primary),
            sms_opted_out=rng.random() < 0.1,
            voice_consent=rng.random() > 0.1,
            validity=ContactPoint.Validity.INVALID if rng.random() < 0.05 else "unknown",
        )
        if rng.random() < 0.3:
            ContactPreference.objects.create(
                debtor=debtor,
                do_not_contact=rng.random() < 0.2,
                preferred_from=dt.time(rng.choice([9, 10, 12])),
                preferred_to=dt.time(rng.choice([13, 17, 20])),
            )
        account = accounts[0]
        if rng.random() < 0.1:
            LegalStop.objects.create(
                account=account,
                kind=rng.choice(list(LegalStop.Kind.values)),
                source="Letter",
                ended_at=now if rng.random() < 0.5 else None,
            )
        if rng.random() < 0.1:
            Conversation.objects.create(
                account=account, at=now - dt.timedelta(days=rng.randint(1, 9))
            )
        # What was sent before the batch: it counts against caps and limits.
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            channel = rng.choice(["email", "sms", "voice"])
            sent = Message.objects.create(
                company=company,
                account=rng.choice(accounts),
                channel=channel,
                to=address if channel == "email" else number,
                text="Earlier. Reply STOP to opt out.",
            )
            Message.objects.filter(pk=sent.pk).update(
                sent_at=now - dt.timedelta(days=rng.uniform(0.1, 11))
            )
        # Calls placed: close to seven in seven days, or to Massachusetts' two.
        for _ in range(rng.choice([0, 0, 1, 2, 5, 6, 7])):
            call = Message.objects.create(
                company=company, account=account, channel="voice", to=number, text="Call."
            )
            Message.objects.filter(pk=call.pk).update(
                sent_at=now - dt.timedelta(days=rng.uniform(0.1, 9))
            )
        if rng.random() < 0.1:
            # "ß" is "SS" in Python's capitals, not in PostgreSQL's: the rule
            # takes the first address (opted out), SQL would see the second.
            DebtorEmail.objects.create(
                debtor=debtor, address=f"straße{n}@example.net", email_opted_out=True
            )
            DebtorEmail.objects.create(debtor=debtor, address=f"STRASSE{n}@example.net")
            messages.append(
                Message(
                    company=company, account=account, channel="email",
                    to=f"strasse{n}@example.net", text="Hello. Reply STOP to opt out.",
                )
            )  # fmt: skip
        # The batch: one to four messages to the debtor, of any channel.
        for _ in range(rng.randint(1, 4)):
            channel = rng.choice(["email", "email", "sms", "voice"])
            to = {
                "email": rng.choice([address, address.upper(), "someone@else.example"]),
                "sms": rng.choice([number, number, "+13125559999"]),
                "voice": number,
            }[channel]
            messages.append(
                Message(
                    company=company,
                    account=rng.choice(accounts),
                    channel=channel,
                    to=to,
                    text="Hello. Reply STOP to opt out.",
                    ignore_contact_preferences=rng.random() < 0.2,
                )
            )
    rng.shuffle(messages)
    Message.objects.bulk_create(messages)
    return list(Message.objects.select_related("account").filter(pk__in=[m.pk for m in messages]))


def by_rules_alone(messages, now, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(gate, "_SCREENS", [])
        return gate.preview(messages, now=now)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "hour",
    [
        8.5,  # 8:30 in New York is 7:30 in Chicago
        13,  # allowed nearly everywhere; preferred hours hold some back
        20.5,  # 20:30 in New York, 21:30 in Halifax's neighbours, 16:30 in Anchorage
        23,  # nowhere on the mainland
    ],
)
def test_the_screen_decides_as_the_rules_do(seed, hour, monkeypatch):
    now = dt.datetime.combine(DAY, dt.time(int(hour), int(hour % 1 * 60)), NEW_YORK)
    messages = build_batch(random.Random(seed), now)
    flagged, decided = screen.screen(messages, now)
    # The screen lets most through on its own, and leaves work to the rules.
    assert decided and flagged
    assert sorted([*flagged, *decided]) == list(range(len(messages)))

    with_screen = gate.preview(messages, now=now)
    without = by_rules_alone(messages, now, monkeypatch)
    assert [(m.channel, m.to, d) for m, d in zip(messages, with_screen, strict=True)] == [
        (m.channel, m.to, d) for m, d in zip(messages, without, strict=True)
    ]


def test_a_message_the_screen_lets_through_no_rule_would_stop(monkeypatch):
    """Every message the screen decides alone is decided so by the rules,
    asked about that message alone (no batch to count against)."""
    now = dt.datetime.combine(DAY, dt.time(13), NEW_YORK)
    messages = build_batch(random.Random(7), now)
    _flagged, decided = screen.screen(messages, now)
    for i, decision in decided.items():
        [alone] = by_rules_alone([messages[i]], now, monkeypatch)
        assert alone == decision, messages[i].to


def test_the_screen_is_asked_only_while_its_rules_are_the_gates(monkeypatch):
    now = dt.datetime.combine(DAY, dt.time(13), NEW_YORK)
    messages = build_batch(random.Random(4), now)[:5]
    asked = []
    monkeypatch.setattr(
        gate, "_SCREENS", [gate._Screen(lambda *a: asked.append(a), frozenset(screen.COVERS), 2)]
    )
    gate.preview(messages, now=now)
    assert len(asked) == 1
    monkeypatch.setattr(gate, "_RULES", list(gate._RULES))
    gate.rule("another")(lambda m: None)  # a rule the screen knows nothing of
    gate.preview(messages, now=now)
    assert len(asked) == 1


def test_the_lists_reach_postgresql_as_they_are():
    values = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", "ünï", " h "]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::bool[]",
            [screen._text_array(values), screen._array([1, 22]), screen._array(["t", "f"])],
        )
        assert cursor.fetchone() == (values, [1, 22], [True, False])
        cursor.execute("SELECT %s::text[]", [screen._text_array([])])
        assert cursor.fetchone() == ([],)
