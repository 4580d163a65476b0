"""Claims, subscriptions, the ledger (journal) and payments.

Sign convention: a ledger amount is what it does to the debt. Charges and
fees are positive; payments, credits and write-offs negative; adjustments
either. An account's balance is the sum of its ledger amounts, a claim's
balance the sum of the amounts posted against it.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

# The configuration rows' owner and uniqueness, as every configuration model has them.
from accounts.models import MONEY, Account, AccountStatus, _owner_company, _unique_per_company


class Subscription(models.Model):
    """A service agreement behind claims, with its initial service discount."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FROZEN = "frozen", "Frozen"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    service_name = models.CharField(max_length=200)
    initial_service_discount = models.DecimalField(**MONEY, default=Decimal("0.00"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField(default=timezone.localdate)
    frozen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.service_name


class ServiceType(models.Model):
    """A service type an invoice (claim) is for, such as the one Add Fees
    puts on the invoices it creates (seed 001's Fee Service Type): the
    platform's defaults plus each company's own, configured by admins."""

    company = _owner_company("own_service_types")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(
        default=True, help_text="Inactive service types stay on invoices but cannot be chosen."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = _unique_per_company(
            "service_type", "name", message="A service type with this name exists."
        )

    def __str__(self):
        return self.name


class Claim(models.Model):
    """An invoice or product owed on an account."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        WRITTEN_OFF = "written_off", "Written off"
        CANCELLED = "cancelled", "Cancelled"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="claims")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, blank=True, related_name="claims"
    )
    service_type = models.ForeignKey(
        ServiceType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=40)
    original_amount = models.DecimalField(**MONEY)
    balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    due_date = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "reference"], name="claim_unique_ref"),
        ]

    def __str__(self):
        return self.reference


class PaymentMethod(models.Model):
    """A payment mandate; it can be disabled until a date."""

    class Kind(models.TextChoices):
        CARD = "card", "Card"
        BANK = "bank", "Bank account"
        OTHER = "other", "Other"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payment_methods")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=100, help_text="Masked, e.g. Visa ending 4242")
    mandate_reference = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_until = models.DateField(null=True, blank=True)

    def __str__(self):
        return self.label


class LedgerEntry(models.Model):
    """One line of an account's journal."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        PAYMENT = "payment", "Payment"
        FEE = "fee", "Fee"
        CREDIT = "credit", "Credit / coupon"
        WRITE_OFF = "write_off", "Write-off"
        ADJUSTMENT = "adjustment", "Adjustment"

    class Context(models.TextChoices):
        MANUAL = "manual", "Manual"
        BULK = "bulk", "Bulk"
        WORKFLOW = "workflow", "Workflow"
        SYSTEM = "system", "System"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ledger_entries")
    claim = models.ForeignKey(
        Claim, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payment = models.OneToOneField(
        "Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entry"
    )
    context = models.CharField(max_length=10, choices=Context.choices, default=Context.MANUAL)
    bulk_operation = models.ForeignKey(
        "bulkops.BulkOperation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    description = models.CharField(max_length=255, blank=True)
    posted_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The entry this one reverses (Undo of a write-off or a fee): money is
    # never undone by deleting a line. One reversal an entry, at most.
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "posted_at"], name="ledger_account_idx")]
        permissions = [
            ("write_off_balances", "Can write off balances in bulk"),
            ("add_fees", "Can add fees in bulk"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        DECLINED = "declined", "Declined"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payments")
    claim = models.ForeignKey(
        Claim, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    credited_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="credited_payments",
        help_text="The collector credited with the payment.",
    )
    received_at = models.DateTimeField(default=timezone.now)
    posted_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_amount_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status", "received_at"], name="payment_account_idx"),
        ]

    def __str__(self):
        return f"{self.amount} ({self.status})"


# --- Bulk Freeze and its rollback (seed 001) --------------------------------------------


# The platform's cancellation reasons (billing.0003 made them; a new
# database and a reseeded demo get these).
DEFAULT_CANCELLATION_REASONS = (
    "Customer request",
    "Non-payment",
    "Service dispute",
    "Moved away",
    "Deceased",
    "Other",
)


class CancellationReason(models.Model):
    """Why accounts are frozen (Bulk Freeze's cancellation reason): the
    platform's defaults plus each company's own, configured by admins."""

    company = _owner_company("own_cancellation_reasons")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(
        default=True, help_text="Inactive reasons stay on freezes but cannot be chosen."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = _unique_per_company(
            "cancellation_reason", "name", message="A cancellation reason with this name exists."
        )

    def __str__(self):
        return self.name


class _RolledBack(models.Model):
    """A freeze record's end: open until rolled back, then when and by whom."""

    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def is_open(self) -> bool:
        return self.rolled_back_at is None


class AccountFreeze(_RolledBack):
    """One account frozen by Bulk Freeze, with what was there before (its
    status; its subscriptions' in ``SubscriptionFreeze``) so that the
    rollback restores exactly that. Open until rolled back: an account has
    at most one open freeze."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="freezes")
    reason = models.ForeignKey(CancellationReason, on_delete=models.PROTECT, related_name="+")
    notes = models.CharField(max_length=500, blank=True)
    status_before = models.ForeignKey(
        AccountStatus, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    frozen_status = models.ForeignKey(AccountStatus, on_delete=models.PROTECT, related_name="+")
    frozen_at = models.DateTimeField(default=timezone.now)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    bulk_operation = models.ForeignKey(
        "bulkops.BulkOperation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(rolled_back_at__isnull=True),
                name="account_freeze_one_open",
                violation_error_message="The account is frozen already.",
            ),
        ]
        indexes = [models.Index(fields=["frozen_at", "id"], name="account_freeze_frozen_idx")]
        permissions = [("freeze_accounts", "Can freeze accounts and roll freezes back")]

    def __str__(self):
        return f"Freeze of {self.account_id} ({self.reason_id})"


class SubscriptionFreeze(_RolledBack):
    """A subscription frozen with its account, and its state before."""

    freeze = models.ForeignKey(
        AccountFreeze, on_delete=models.CASCADE, related_name="subscriptions"
    )
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    status_before = models.CharField(max_length=10, choices=Subscription.Status.choices)
    frozen_at_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=models.Q(rolled_back_at__isnull=True),
                name="subscription_freeze_one_open",
            ),
        ]

    def __str__(self):
        return f"Freeze of subscription {self.subscription_id}"


# --- the bulk write-off file (seed 002) -------------------------------------------------


class WriteOffFile(models.Model):
    """An uploaded file of account IDs to write off, with its preview
    (``WriteOffFileRow``): stored, so the preview survives a restart and
    reads the same on every web server. Saving it starts the bulk
    operation over its eligible rows."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=255)
    uploaded_at = models.DateTimeField(default=timezone.now)
    entries = models.PositiveIntegerField(help_text="Distinct account IDs in the file.")
    eligible = models.PositiveIntegerField(default=0)
    bulk_operation = models.OneToOneField(
        "bulkops.BulkOperation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="write_off_file",
    )

    def __str__(self):
        return self.name


class WriteOffFileRow(models.Model):
    """One account ID of a write-off file, as the preview shows it."""

    file = models.ForeignKey(WriteOffFile, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    reference = models.CharField(max_length=100, help_text="The account ID as the file has it.")
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customer_name = models.CharField(max_length=300, blank=True)
    office_name = models.CharField(max_length=200, blank=True)
    days_since_default = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True, help_text="Why it is not eligible.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "reference"], name="write_off_row_unique")
        ]

    @property
    def is_eligible(self) -> bool:
        return not self.reason


class BillingPolicy(models.Model):
    """A company's own rules for moving money in bulk (maker-checker): a
    write-off above ``approval_above`` in total waits in Approvals for a
    second person, never its requester."""

    company = models.OneToOneField(
        "accounts.Company", on_delete=models.CASCADE, related_name="billing_policy"
    )
    approval_above = models.DecimalField(
        "Approval above",
        **MONEY,
        null=True,
        blank=True,
        help_text="A bulk write-off, or Add Fees, of more than this in total waits for a "
        "second person's approval. Empty: none waits.",
    )
    max_fee = models.DecimalField(
        "Maximum fee",
        **MONEY,
        null=True,
        blank=True,
        help_text="Add Fees refuses a fee above this for any one account. Empty: no maximum.",
    )
    task_on_broken_promise = models.BooleanField(
        "Task on a broken promise",
        default=False,
        help_text="When a promise to pay is broken, create a task for the account's "
        "assigned collector, due the next day.",
    )
    broken_promise_queue = models.ForeignKey(
        "accounts.WorkQueue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The queue of those tasks (one of the company's own).",
    )

    class Meta:
        verbose_name_plural = "billing policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approval_above__gte=0), name="billing_policy_approval_above"
            ),
            models.CheckConstraint(
                condition=models.Q(max_fee__gt=0), name="billing_policy_max_fee"
            ),
        ]

    def __str__(self):
        return f"Billing policy of {self.company_id}"


# --- Add Fees' verification (seed 001) ----------------------------------------------------


class FeeVerification(models.Model):
    """The fees verified for a selection ("Proceed to Verification"): each
    account's fee and the figure it came from, stored so that confirming
    applies exactly these amounts, and skips an account whose figures
    changed since. Found again at confirmation by its ``fingerprint`` (the
    user, the parameters and the selection), never by anything the form
    carries."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    accounts = models.PositiveIntegerField(default=0)
    with_fee = models.PositiveIntegerField(default=0)
    total = models.DecimalField(**MONEY, default=Decimal("0.00"))

    class Meta:
        indexes = [
            models.Index(fields=["owner", "fingerprint", "-created_at"], name="fee_verif_idx")
        ]

    def __str__(self):
        return f"Fee verification {self.pk}"


class FeeVerificationRow(models.Model):
    """One account's verified fee (``reason`` says why it gets none).

    A verification writes a row for every selected account, a million in
    one statement, and is purged within the hour: its two foreign keys have
    no database constraint (their checks at commit were 9 of the 30 s a
    million rows took), as the audit trail's have none. They hold by
    construction: the rows are made from the accounts and the verification
    in the statement that inserts them, and Django still deletes them with
    their account or verification (``on_delete``). The verification needs
    no index of its own: ``fee_verif_row_idx`` begins with it."""

    verification = models.ForeignKey(
        FeeVerification,
        on_delete=models.CASCADE,
        related_name="rows",
        db_constraint=False,
        db_index=False,
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    amount = models.DecimalField(**MONEY)
    basis = models.DecimalField(**MONEY, null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["verification", "-amount", "account"], name="fee_verif_row_idx")
        ]


# --- promises to pay (seed 004's Actions > Create promise to pay) ---------------------


class PromiseToPay(models.Model):
    """The debtor's promise to pay ``amount`` on a claim by ``due_date``. A
    daily task settles it: kept once the claim's payments posted since the
    promise was made cover the amount (on or before the due date), broken
    when the due date has passed without."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        KEPT = "kept", "Kept"
        BROKEN = "broken", "Broken"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="promises")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="promises")
    amount = models.DecimalField(**MONEY)
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    paid_amount = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="What the payments covered when it was settled."
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="promise_amount_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="promise_account_idx"),
            # The daily settlement reads the pending promises only.
            models.Index(
                fields=["due_date"],
                condition=models.Q(state="pending"),
                name="promise_pending_idx",
            ),
        ]

    def __str__(self):
        return f"Promise of {self.amount} by {self.due_date}"
