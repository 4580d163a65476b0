"""Add Fees (seed 001): a fee on a new invoice for each selected customer,
computed by one of six modes (``billing.fees``), through a verification
step: "Proceed to Verification" shows each account with its Fees to Apply,
the total, and who gets no fee and why; confirming applies exactly the
verified amounts."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import CharField, Count, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from accounts.selectors import configuration_usable_by, configuration_visible_to
from billing import fees, selectors
from billing.models import FeeVerificationRow, ServiceType
from bulkops.models import BulkOperationItem
from bulkops.registry import BulkAction, Outcomes, register
from bulkops.selection import Selection
from bulkops.services import OperationRefused, snapshot_items
from bulkops.services.engine import ANALYZE_AFTER_ROWS

SHOWN = 25  # the verification's first page


class AddFeesForm(forms.Form):
    service_type = forms.ModelChoiceField(
        label="Fee Service Type",
        queryset=ServiceType.objects.none(),
        error_messages={"invalid_choice": "That service type is not available. Pick another."},
    )
    apply_to = forms.ChoiceField(
        label="Apply to", choices=fees.ApplyTo.choices, widget=forms.RadioSelect,
        initial=fees.ApplyTo.BILLING,
    )  # fmt: skip
    # Grouped by what they apply to, as the seed's dialog offers them.
    mode = forms.ChoiceField(
        label="Fee",
        choices=[
            (fees.ApplyTo(apply_to).label, [(m.value, m.label) for m in modes])
            for apply_to, modes in fees.MODES_OF.items()
        ],
    )
    amount = forms.DecimalField(
        label="Amount ($)", required=False, min_value=Decimal("0.01"), max_digits=12,
        decimal_places=2, help_text="For a fixed amount.",
    )  # fmt: skip
    percentage = forms.DecimalField(
        label="Percentage (%)", required=False, min_value=Decimal("0.0001"),
        max_value=Decimal("100"), max_digits=7, decimal_places=4,
        help_text="For a percentage, 100 at most.",
    )  # fmt: skip
    as_of = forms.DateField(
        label="As of Date", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="% of Balance: the balance at the end of this day, from the ledger "
        "(today's when empty).",
    )  # fmt: skip

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service_type"].queryset = configuration_visible_to(user, ServiceType).filter(
            is_active=True
        )

    def clean_as_of(self):
        as_of = self.cleaned_data["as_of"]
        if as_of and as_of > timezone.localdate():
            raise forms.ValidationError("The As of Date cannot be in the future.")
        return as_of

    def clean(self):
        cleaned = super().clean()
        apply_to, mode = cleaned.get("apply_to"), cleaned.get("mode")
        if apply_to and mode and mode not in fees.MODES_OF[apply_to]:
            self.add_error(
                "mode",
                f"{fees.FeeMode(mode).label} is not a fee of {fees.ApplyTo(apply_to).label}.",
            )
        if mode in fees.FIXED_MODES:
            if cleaned.get("amount") is None and "amount" not in self.errors:
                self.add_error("amount", "Enter the amount of the fee.")
        elif mode and cleaned.get("percentage") is None and "percentage" not in self.errors:
            self.add_error("percentage", "Enter the percentage.")
        if cleaned.get("as_of") and mode != fees.FeeMode.PERCENT_OF_BALANCE:
            self.add_error("as_of", "The As of Date is for % of Balance only.")
        return cleaned


@register
class AddFees(BulkAction):
    key = "add_fees"
    inverse = "add_fees_undo"  # billing.actions.undo
    label = "Add Fees"
    target = "accounts"
    group = "Money"
    permission = "billing.add_fees"
    order = 55
    form_class = AddFeesForm
    preview_template = "billing/actions/_fees_verification.html"
    preview_title = "Verification"
    preview_button = "Proceed to Verification"
    confirm_label = "Add Fees"
    done_word = "charged"
    chunk_size = 2000
    grows = ("billing.Claim", "billing.LedgerEntry")

    def parameters(self, form):
        data = form.cleaned_data
        mode = data["mode"]
        value = data["amount"] if mode in fees.FIXED_MODES else data["percentage"]
        return {
            "service_type": data["service_type"].pk,
            "service_type_name": data["service_type"].name,
            "apply_to": data["apply_to"],
            "mode": mode,
            "value": str(value),
            "as_of": data["as_of"].isoformat() if data.get("as_of") else "",
        }

    def describe(self, parameters):
        mode = fees.FeeMode(parameters["mode"])
        value = Decimal(parameters["value"])
        what = f"${value:,.2f}" if mode in fees.FIXED_MODES else f"{value.normalize():f} %"
        as_of = f" as of {parameters['as_of']}" if parameters.get("as_of") else ""
        return f"Add Fees: {mode.label} {what}{as_of} ({parameters['service_type_name']})"

    approval_permission = "billing.add_fees"

    def approval_needed(self, user, parameters, count, *, operation):
        """Maker-checker: fees of more than the company's limit in total
        wait in Approvals for a second person who may add fees."""
        limit = selectors.approval_limit(operation.company_id)
        if limit is None:
            return ""
        total = fees.items_total(operation)
        if total <= limit:
            return ""
        return (
            f"It adds ${total:,.2f} of fees, more than the ${limit:,.2f} your company adds "
            "without a second person's approval."
        )

    def preview_context(self, form, *, user, selection):
        parameters = self.parameters(form)
        verification = fees.verify_fees(
            user=user,
            accounts=selection.resolve(user),
            parameters=parameters,
            key=fees.fingerprint(user, parameters, selection),
            max_fee=selectors.max_fee(user.company_id),
        )
        return fee_verification_context(verification, page=1, sort="fee")

    def snapshot(self, operation, queryset):
        """The items are the verified accounts with a fee, still selected,
        each carrying its verified amount and figure."""
        selection = Selection.from_dict(operation.selection)
        verification = fees.verification_for(
            operation.created_by,
            fees.fingerprint(operation.created_by, operation.parameters, selection),
        )
        if verification is None:
            raise OperationRefused(
                "The verification is out of date: proceed to verification again."
            )
        rows = FeeVerificationRow.objects.filter(
            verification=verification, reason="", account__in=queryset
        ).order_by("account_id")
        if connection.vendor == "postgresql":
            return _snapshot_in_sql(operation, rows)
        return snapshot_items(
            operation,
            queryset,
            arguments=(
                (pk, f"{amount}|{basis if basis is not None else ''}")
                for pk, amount, basis in rows.values_list("account_id", "amount", "basis")
            ),
        )

    def apply(self, items, operation):
        parameters = operation.parameters
        service_type = ServiceType.objects.filter(
            pk=parameters["service_type"], is_active=True
        ).first()
        if service_type is None or not configuration_usable_by(operation.created_by, service_type):
            return Outcomes.all_failed(
                items.target_ids, "The fee service type is no longer available."
            )
        return fees.apply_verified(
            actor=operation.created_by,
            items=list(items),
            parameters=parameters,
            service_type=service_type,
            bulk_operation=operation,
        )


def _snapshot_in_sql(operation, rows) -> int:
    """The verified rows as the operation's items in one INSERT ... SELECT
    (a million of them would otherwise be a million objects in the web
    process), each carrying ``amount|basis``."""
    select_sql, params = (
        rows.order_by()
        .annotate(
            item_argument=Concat(
                Cast("amount", CharField()),
                Value("|"),
                Coalesce(Cast("basis", CharField()), Value("")),
                output_field=CharField(),
            )
        )
        .values_list("account_id", "item_argument")
        .query.sql_with_params()
    )
    table = BulkOperationItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (operation_id, target_id, outcome, argument, reason)"
            f" SELECT %s, sub.account_id, %s, sub.item_argument, '' FROM ({select_sql}) sub",
            [operation.pk, BulkOperationItem.Outcome.PENDING, *params],
        )
        inserted = cursor.rowcount
        if inserted > ANALYZE_AFTER_ROWS:
            cursor.execute(f"ANALYZE {table}")
    return inserted


SORTS = {"fee": ("-amount", "account_id"), "-fee": ("amount", "account_id"),
         "account": ("account__file_number",), "-account": ("-account__file_number",)}  # fmt: skip


def fee_verification_context(verification, *, page: int, sort: str) -> dict:
    """A page of a verification's accounts (sorted by fee or by account),
    its totals, and the accounts without a fee counted by reason."""
    order = SORTS.get(sort, SORTS["fee"])
    rows = verification.rows.select_related("account").order_by(*order)
    paginator = Paginator(rows, SHOWN)
    reasons = (
        verification.rows.exclude(reason="")
        .values("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    )
    return {
        "verification": verification,
        "page": paginator.get_page(page),
        "sort": sort if sort in SORTS else "fee",
        "no_fee": [(row["reason"], row["n"]) for row in reasons],
        "no_fee_total": verification.accounts - verification.with_fee,
    }
