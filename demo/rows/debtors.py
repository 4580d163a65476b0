"""The debtor of each account and its contact points: one generator per table
(``accounts_debtor``, ``accounts_debtoremail``, ``accounts_debtorphone``)."""

from __future__ import annotations

import datetime as dt

from accounts.models import Debtor, DebtorEmail, DebtorPhone
from accounts.timezones import zip_codes_of_state
from demo.rows.context import AccountDraft, Context
from demo.words import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREET_KINDS, STREETS

DEBTOR_COLUMNS = [
    "id",
    "first_name",
    "middle_name",
    "last_name",
    "date_of_birth",
    "ssn_last4",
    "locale",
    "timezone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "created_at",
]
DEBTOR_EMAIL_COLUMNS = [
    "id",
    "debtor_id",
    "is_primary",
    "validity",
    "validity_note",
    "validity_changed_by_id",
    "validity_changed_at",
    "address",
    "email_consent",
    "email_consent_at",
    "email_consent_source",
    "email_opted_out",
    "email_opted_out_at",
    "email_opt_out_source",
]
DEBTOR_PHONE_COLUMNS = [
    "id",
    "debtor_id",
    "is_primary",
    "validity",
    "validity_note",
    "validity_changed_by_id",
    "validity_changed_at",
    "number",
    "phone_type",
    "sms_consent",
    "sms_consent_at",
    "sms_consent_source",
    "sms_opted_out",
    "sms_opted_out_at",
    "sms_opt_out_source",
    "voice_consent",
    "voice_consent_at",
    "voice_consent_source",
    "voice_opted_out",
    "voice_opted_out_at",
    "voice_opt_out_source",
]


# Consent given when the account was placed, as the placement file says;
# the few opt-outs were asked for by phone.
CONSENT_SOURCE = "Placement file"
OPT_OUT_SOURCE = "Phone call"


def _opt_out(opted_out: bool, at) -> tuple:
    return (opted_out, at if opted_out else None, OPT_OUT_SOURCE if opted_out else "")


def _postal_code(ctx: Context, state: str) -> str:
    """A real ZIP code of the state: the contact rules read the debtor's
    time zone from it."""
    codes = zip_codes_of_state(state)
    return ctx.choice(codes) if codes else f"{ctx.randrange(10000, 99999)}"


def debtors(ctx: Context, draft: AccountDraft) -> None:
    """The account's debtor: name, birth date, address in the drawn state."""
    rnd, randrange, choice = ctx.rnd, ctx.randrange, ctx.choice
    draft.debtor_id = ctx.new_id(Debtor)
    draft.first_name, draft.last_name = choice(FIRST_NAMES), choice(LAST_NAMES)
    state = draft.state
    draft.created_at = ctx.anchor - dt.timedelta(days=randrange(30, 1100), seconds=randrange(86400))
    ctx.rows[Debtor].append(
        (
            draft.debtor_id,
            draft.first_name,
            choice(FIRST_NAMES)[0] if rnd() < 0.3 else "",
            draft.last_name,
            dt.date(1950 + randrange(55), 1 + randrange(12), 1 + randrange(28)),
            f"{randrange(10000):04d}",
            "es-US" if rnd() < 0.08 else "en-US",
            "",
            f"{randrange(1, 9999)} {choice(STREETS)} {choice(STREET_KINDS)}",
            f"Apt {randrange(1, 300)}" if rnd() < 0.2 else "",
            choice(ctx.state_cities[state]),
            state,
            _postal_code(ctx, state),
            "US",
            draft.created_at,
        )
    )


def debtor_emails(ctx: Context, draft: AccountDraft) -> None:
    """Usually one address, sometimes two (the second ``.alt``), sometimes none."""
    rnd, choice = ctx.rnd, ctx.choice
    local = f"{draft.first_name}.{draft.last_name}{draft.index}".lower().replace("'", "")
    n_emails = 1 if rnd() < 0.8 else (2 if rnd() < 0.9 else 0)
    for e in range(n_emails):
        invalid = rnd() < 0.05
        ctx.rows[DebtorEmail].append(
            (
                ctx.new_id(DebtorEmail),
                draft.debtor_id,
                e == 0,
                "invalid" if invalid else ("valid" if rnd() < 0.7 else "unknown"),
                "Bounced" if invalid else "",
                None,
                draft.created_at if invalid else None,
                f"{local}{'' if e == 0 else '.alt'}@{choice(EMAIL_DOMAINS)}",
                True,
                draft.created_at,
                CONSENT_SOURCE,
                *_opt_out(rnd() < 0.02, draft.created_at),
            )
        )


def debtor_phones(ctx: Context, draft: AccountDraft) -> None:
    """One or two numbers; the primary one is usually a mobile."""
    rnd, randrange, choice = ctx.rnd, ctx.randrange, ctx.choice
    for p in range(1 if rnd() < 0.75 else 2):
        invalid = rnd() < 0.07
        ctx.rows[DebtorPhone].append(
            (
                ctx.new_id(DebtorPhone),
                draft.debtor_id,
                p == 0,
                "invalid" if invalid else ("valid" if rnd() < 0.6 else "unknown"),
                "Disconnected" if invalid else "",
                None,
                draft.created_at if invalid else None,
                f"+1{randrange(201, 989)}555{randrange(10000):04d}",
                "mobile" if p == 0 and rnd() < 0.8 else choice(("home", "work")),
                True,
                draft.created_at,
                CONSENT_SOURCE,
                *_opt_out(rnd() < 0.03, draft.created_at),
                True,
                draft.created_at,
                CONSENT_SOURCE,
                *_opt_out(rnd() < 0.02, draft.created_at),
            )
        )
