"""The claims summary billing adds to the account column catalogue
(accounts.columns; registered in billing.apps): each account's number of
claims and their balance, in Python and in SQL."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.columns import AccountColumn
from billing.models import Claim
from bulkops.exports.cells import INTEGER, MONEY
from bulkops.exports.copy import money_text, quote_table

MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)


def _claims():
    return Claim.objects.filter(account_id=OuterRef("pk")).order_by().values("account_id")


def _claims_count():
    return Coalesce(Subquery(_claims().annotate(n=Count("pk")).values("n")), Value(0))


def _claims_balance():
    return Coalesce(
        Subquery(
            _claims().annotate(total=Sum("balance")).values("total"), output_field=MONEY_FIELD
        ),
        Value(Decimal("0.00")),
        output_field=MONEY_FIELD,
    )


def _claims_count_sql(today) -> str:
    return f"(SELECT count(*) FROM {quote_table(Claim)} cl WHERE cl.account_id = a.id)::text"


def _claims_balance_sql(today) -> str:
    claims = quote_table(Claim)
    return money_text(
        f"coalesce((SELECT sum(cl.balance) FROM {claims} cl WHERE cl.account_id = a.id), 0)"
    )


CLAIMS_COLUMNS = [
    AccountColumn(
        "claims_count", "Claims", kind=INTEGER, annotation=_claims_count, sql=_claims_count_sql
    ),
    AccountColumn(
        "claims_balance",
        "Claims Balance",
        kind=MONEY,
        annotation=_claims_balance,
        sql=_claims_balance_sql,
    ),
]
