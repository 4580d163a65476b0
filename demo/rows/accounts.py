"""The account and what hangs on it, one generator per table:
``accounts_account``, ``accounts_accountaccess``, ``accounts_accountflag``,
``accounts_customfieldvalue`` and ``accounts_note``."""

from __future__ import annotations

import datetime as dt

from accounts.models import Account, AccountAccess, AccountFlag, CustomFieldValue, Note
from demo.rows.context import AccountDraft, Context, money
from demo.words import EMPLOYERS, NOTE_BODIES

ACCOUNT_COLUMNS = [
    "id",
    "file_number",
    "account_number",
    "company_id",
    "client_id",
    "portfolio_id",
    "creditor_id",
    "debtor_id",
    "office_id",
    "status_id",
    "stage",
    "assigned_to_id",
    "file_type_id",
    "default_date",
    "terminated_on",
    "repossessed_on",
    "last_worked_at",
    "current_balance",
    "last_payment_amount",
    "last_payment_date",
    "declined_count",
    "created_by_id",
    "created_at",
]
ACCOUNT_ACCESS_COLUMNS = ["id", "company_id", "account_id", "granted_at"]
ACCOUNT_FLAG_COLUMNS = ["id", "account_id", "flag_id", "added_at"]
CUSTOM_FIELD_VALUE_COLUMNS = ["id", "account_id", "field_id", "value"]
NOTE_COLUMNS = ["id", "account_id", "note_type_id", "body", "author_id", "created_at"]


def new_account(ctx: Context, draft: AccountDraft) -> None:
    """The account's id, owning company and client: drawn before its billing
    rows (which refer to it); its row comes after them (``accounts``)."""
    draft.account_id = ctx.new_id(Account)
    draft.company = ctx.primary_company if ctx.rnd() < 0.85 else ctx.second_company
    draft.client = ctx.choice(ctx.ref.clients)


def accounts(ctx: Context, draft: AccountDraft) -> None:
    """The account row, from its simulated billing: a zero balance is Paid in
    Full; default and termination dates follow its status's category."""
    rnd, randrange, choice, ref = ctx.rnd, ctx.randrange, ctx.choice, ctx.ref
    if draft.balance == 0:
        draft.status = ref.paid_status_id
    category = ctx.status_category[draft.status]
    default_date = None
    if category in ("default", "terminated"):
        default_date = (draft.created_at + dt.timedelta(days=randrange(60, 400))).date()
        default_date = min(default_date, ctx.anchor_date)
    terminated_on = None
    if category == "terminated":
        terminated_on = min(default_date + dt.timedelta(days=randrange(30, 200)), ctx.anchor_date)
    if rnd() < 0.85:
        draft.assigned = choice(ref.collectors[draft.company])
    draft.last_worked = (
        ctx.anchor - dt.timedelta(days=randrange(0, 120), seconds=randrange(86400))
        if rnd() < 0.8
        else None
    )
    stage = "not_set" if rnd() < 0.7 else ("pending" if rnd() < 0.6 else "sent")
    last_paid_at, last_paid_cents = draft.last_paid_at, draft.last_paid_cents
    ctx.rows[Account].append(
        (
            draft.account_id,
            f"F{draft.index + 1:08d}",
            f"{randrange(10**11, 10**12)}",
            draft.company,
            draft.client,
            choice(ref.portfolios[draft.client]),
            choice(ref.creditors),
            draft.debtor_id,
            choice(ref.offices[draft.company]),
            draft.status,
            stage,
            draft.assigned,
            choice(ref.file_types),
            default_date,
            terminated_on,
            None,  # no repossession recorded
            draft.last_worked,
            money(draft.balance),
            money(last_paid_cents) if last_paid_cents is not None else None,
            last_paid_at.date() if last_paid_at is not None else None,
            draft.declined,
            choice(ref.creator_ids),
            draft.created_at,
        )
    )


def account_access(ctx: Context, draft: AccountDraft) -> None:
    """One in twenty of the first company's accounts is granted to the second."""
    if draft.company == ctx.primary_company and ctx.rnd() < 0.05:
        ctx.rows[AccountAccess].append(
            (ctx.new_id(AccountAccess), ctx.second_company, draft.account_id, draft.created_at)
        )


def account_flags(ctx: Context, draft: AccountDraft) -> None:
    """A fifth of the accounts carry one active flag, a few two."""
    if ctx.rnd() < 0.2:
        for flag in ctx.rng.sample(ctx.ref.flags, 1 if ctx.rnd() < 0.8 else 2):
            ctx.rows[AccountFlag].append(
                (ctx.new_id(AccountFlag), draft.account_id, flag, draft.created_at)
            )


def custom_field_values(ctx: Context, draft: AccountDraft) -> None:
    """An employer on some accounts, a credit score on fewer."""
    custom, rows = ctx.ref.custom_fields, ctx.rows[CustomFieldValue]
    if ctx.rnd() < 0.3:
        rows.append(
            (
                ctx.new_id(CustomFieldValue),
                draft.account_id,
                custom["employer"],
                ctx.choice(EMPLOYERS),
            )
        )
    if ctx.rnd() < 0.15:
        rows.append(
            (
                ctx.new_id(CustomFieldValue),
                draft.account_id,
                custom["credit_score"],
                str(ctx.randrange(450, 820)),
            )
        )


def notes(ctx: Context, draft: AccountDraft) -> None:
    """A note on a quarter of the accounts, by its collector when it was last worked."""
    if ctx.rnd() < 0.25:
        ctx.rows[Note].append(
            (
                ctx.new_id(Note),
                draft.account_id,
                ctx.choice(ctx.ref.note_types),
                ctx.choice(NOTE_BODIES),
                draft.assigned,
                draft.last_worked or draft.created_at,
            )
        )
