"""Tenants, people and debt accounts.

Derived account fields (current balance, last payment, declined count) are
written only by ``billing.services`` in the same transaction as the ledger
entry or payment that moves them; ``manage.py check_balances`` verifies them.
"""

from decimal import Decimal
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.timezone import now

from accounts.states import STATE_CHOICES, timezone_for_state

MONEY = {"max_digits": 14, "decimal_places": 2}


class Company(models.Model):
    """A tenant: an agency or creditor organisation. Its users see the
    accounts it owns (``Account.company``) and those other companies granted
    it (``AccountAccess``); nothing of another company's."""

    class Kind(models.TextChoices):
        AGENCY = "agency", "Agency"
        CREDITOR = "creditor", "Creditor"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AGENCY)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Office(models.Model):
    """A fulfilment centre of a company."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="offices")
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="America/New_York")
    max_messages_per_minute = models.PositiveIntegerField(
        default=60, help_text="Delivery setting: most messages sent per minute from this office."
    )

    class Meta:
        ordering = ["company__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="office_unique_name"),
        ]

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A person who logs in. The role is the Django group Collector,
    Supervisor or Admin (created with their permissions by a migration)."""

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    office = models.ForeignKey(
        Office, on_delete=models.SET_NULL, null=True, blank=True, related_name="users"
    )
    timezone = models.CharField(max_length=64, default="America/New_York")
    phone = models.CharField(
        "Phone",
        max_length=20,
        blank=True,
        help_text="E.164, e.g. +15555550123: where Call Now rings first.",
    )

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def role(self) -> str:
        from accounts.roles import role_of

        return role_of(self)


# --- configuration: platform defaults and each company's own ------------------------
#
# Statuses, flags, custom fields, file types, note types, clients, portfolios,
# creditors and agencies are each either a platform default (no company: every
# company is offered it, only platform operators change it) or one company's
# own (offered to that company only). ``accounts.selectors.configuration_visible_to``
# is the one read of what a user is offered.
#
# A name (code, key) is unique among the defaults and among one company's own
# rows: two partial unique constraints. That a company's own row does not take
# the name of a default it is offered alongside spans both sets, which no
# constraint expresses: the admin's form refuses it (``CONFIGURATION_UNIQUE``).


def _owner_company(related_name: str):
    """The company a configuration row belongs to; empty for a platform
    default. PROTECT: like its offices, users and accounts, a company's own
    configuration is never deleted as a side effect of deleting the company
    (accounts and the audit trail name these rows; a company is deactivated,
    not deleted)."""
    return models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name=related_name,
        # Every lookup by company is served by the (company, ...) partial
        # unique index of the same table.
        db_index=False,
        help_text="Empty for a platform default, offered to every company.",
    )


def _unique_per_company(prefix: str, *fields: str, message: str) -> list:
    """``fields`` unique among the defaults, and among each company's own rows."""
    suffix = "_".join(fields)
    return [
        models.UniqueConstraint(
            fields=list(fields),
            condition=models.Q(company__isnull=True),
            name=f"{prefix}_default_{suffix}_uniq",
            violation_error_message=message,
        ),
        models.UniqueConstraint(
            fields=["company", *fields],
            condition=models.Q(company__isnull=False),
            name=f"{prefix}_own_{suffix}_uniq",
            violation_error_message=message,
        ),
    ]


class Client(models.Model):
    company = _owner_company("own_clients")
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=20)

    class Meta:
        ordering = ["name"]
        constraints = [
            *_unique_per_company("client", "name", message="A client with this name exists."),
            *_unique_per_company("client", "code", message="A client with this code exists."),
        ]

    def __str__(self):
        return self.name


class Portfolio(models.Model):
    """A batch of a client's debt. Its own ``company`` (a company may buy a
    portfolio from a platform-default client), kept consistent with the
    client's: a company's own client has only that company's portfolios, so
    no one is offered a portfolio of a client they cannot see."""

    company = _owner_company("own_portfolios")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="portfolios")
    name = models.CharField(max_length=200)
    purchased_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["client__name", "name"]
        constraints = _unique_per_company(
            "portfolio", "client", "name", message="This client has a portfolio of this name."
        )

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        client_company = self.client.company_id if self.client_id else None
        if client_company is not None and self.company_id != client_company:
            raise ValidationError(
                {
                    "client": "This client belongs to one company: only that company's "
                    "portfolios can be of it."
                }
            )


class Creditor(models.Model):
    """The original creditor of a debt."""

    company = _owner_company("own_creditors")
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_company(
            "creditor", "name", message="A creditor with this name exists."
        )

    def __str__(self):
        return self.name


class Agency(models.Model):
    """A collection agency (DCA / ARM) accounts can be placed with."""

    company = _owner_company("own_agencies")
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=20)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]
        constraints = [
            *_unique_per_company("agency", "name", message="An agency with this name exists."),
            *_unique_per_company("agency", "code", message="An agency with this code exists."),
        ]

    def __str__(self):
        return self.name


class AccountStatus(models.Model):
    """An admin-configured account status."""

    class Category(models.TextChoices):
        ACTIVE = "active", "Active"
        DEFAULT = "default", "In default"
        FROZEN = "frozen", "Frozen"
        TERMINATED = "terminated", "Terminated"
        CLOSED = "closed", "Closed"

    company = _owner_company("own_statuses")
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=Category.choices)
    is_active = models.BooleanField(
        default=True, help_text="Inactive statuses stay on accounts but cannot be chosen."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name_plural = "account statuses"
        ordering = ["sort_order", "name"]
        constraints = _unique_per_company(
            "status", "name", message="A status with this name exists."
        )

    def __str__(self):
        return self.name


class Flag(models.Model):
    """An admin-defined generic flag; only active flags can be added."""

    company = _owner_company("own_flags")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_company("flag", "name", message="A flag with this name exists.")

    def __str__(self):
        return self.name


class CustomField(models.Model):
    """An admin-defined field whose values live in ``CustomFieldValue``."""

    class FieldType(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        BOOLEAN = "boolean", "Yes / No"
        CHOICE = "choice", "Choice"

    company = _owner_company("own_custom_fields")
    name = models.CharField(max_length=100)
    key = models.SlugField(max_length=50)
    field_type = models.CharField(max_length=10, choices=FieldType.choices, default="text")
    choices = models.TextField(blank=True, help_text="For choice fields: one option per line.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            *_unique_per_company(
                "customfield", "name", message="A custom field with this name exists."
            ),
            *_unique_per_company(
                "customfield", "key", message="A custom field with this key exists."
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class FileType(models.Model):
    company = _owner_company("own_file_types")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_company(
            "filetype", "name", message="A file type with this name exists."
        )

    def __str__(self):
        return self.name


class Debtor(models.Model):
    """A person who owes; the primary debtor of one or more accounts."""

    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    ssn_last4 = models.CharField("SSN (last 4)", max_length=4, blank=True)
    locale = models.CharField(max_length=10, default="en-US")
    timezone = models.CharField(
        max_length=64, blank=True, help_text="Leave empty to derive it from the state."
    )
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, choices=STATE_CHOICES, blank=True, db_index=True)
    postal_code = models.CharField(max_length=10, blank=True)
    country = models.CharField(max_length=2, default="US")
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["last_name", "first_name"], name="debtor_name_idx")]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)

    @property
    def effective_timezone(self) -> str:
        return self.timezone or timezone_for_state(self.state)


class ContactPoint(models.Model):
    """What email addresses and phone numbers share: validity and its history."""

    class Validity(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        VALID = "valid", "Valid"
        INVALID = "invalid", "Invalid"

    debtor = models.ForeignKey(Debtor, on_delete=models.CASCADE)
    is_primary = models.BooleanField(default=False)
    validity = models.CharField(max_length=10, choices=Validity.choices, default="unknown")
    validity_note = models.CharField(max_length=255, blank=True)
    validity_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    validity_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        # "Primary" means one: the account page, messages and exports read it
        # as a single value (an export looks it up by this partial index).
        constraints = [
            models.UniqueConstraint(
                fields=["debtor"],
                condition=models.Q(is_primary=True),
                name="%(class)s_one_primary",
            ),
        ]


class DebtorEmail(ContactPoint):
    address = models.EmailField(max_length=254, db_index=True)
    email_consent = models.BooleanField(default=True)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    email_consent_source = models.CharField(max_length=100, blank=True)
    email_opted_out = models.BooleanField(default=False)
    email_opted_out_at = models.DateTimeField(null=True, blank=True)
    email_opt_out_source = models.CharField(max_length=100, blank=True)

    class Meta(ContactPoint.Meta):
        default_related_name = "emails"

    def __str__(self):
        return self.address


class DebtorPhone(ContactPoint):
    class PhoneType(models.TextChoices):
        MOBILE = "mobile", "Mobile"
        HOME = "home", "Home"
        WORK = "work", "Work"

    number = models.CharField(max_length=20, db_index=True, help_text="E.164, e.g. +15555550123")
    phone_type = models.CharField(max_length=10, choices=PhoneType.choices, default="mobile")
    sms_consent = models.BooleanField(default=True)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=100, blank=True)
    sms_opted_out = models.BooleanField(default=False)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    sms_opt_out_source = models.CharField(max_length=100, blank=True)
    voice_consent = models.BooleanField(default=True)
    voice_consent_at = models.DateTimeField(null=True, blank=True)
    voice_consent_source = models.CharField(max_length=100, blank=True)
    voice_opted_out = models.BooleanField(default=False)
    voice_opted_out_at = models.DateTimeField(null=True, blank=True)
    voice_opt_out_source = models.CharField(max_length=100, blank=True)

    class Meta(ContactPoint.Meta):
        default_related_name = "phones"

    def __str__(self):
        return self.number


class Account(models.Model):
    """A debt account, the unit collectors work and bulk actions change."""

    class Stage(models.TextChoices):
        NOT_SET = "not_set", "Not Set"
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"

    file_number = models.CharField(max_length=20, unique=True)
    account_number = models.CharField(max_length=40)
    # The tenant that holds the account. Other companies may be granted access
    # too (AccountAccess); keeping the owner on the row makes the scoped count
    # of a million accounts a single-table index scan instead of a join.
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        related_name="owned_accounts",
        db_index=False,  # every (company, ...) index below starts with it
    )
    # Foreign keys marked db_index=False are covered by the (company, ...)
    # indexes below or never filtered on: every index is one more write per
    # changed row when a bulk action updates a million accounts.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="accounts", db_index=False
    )
    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="accounts")
    creditor = models.ForeignKey(
        Creditor, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )
    debtor = models.ForeignKey(Debtor, on_delete=models.PROTECT, related_name="accounts")
    office = models.ForeignKey(
        Office, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts"
    )
    status = models.ForeignKey(
        AccountStatus, on_delete=models.PROTECT, related_name="accounts", db_index=False
    )
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.NOT_SET)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_accounts",
        db_index=False,
    )
    file_type = models.ForeignKey(
        FileType, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    flags = models.ManyToManyField(Flag, through="AccountFlag", related_name="accounts", blank=True)
    shared_with = models.ManyToManyField(
        Company,
        through="AccountAccess",
        related_name="shared_accounts",
        blank=True,
        help_text="Companies granted access besides the owning company.",
    )
    default_date = models.DateField(
        null=True, blank=True, help_text="When the account entered a default status."
    )
    terminated_on = models.DateField(null=True, blank=True)
    repossessed_on = models.DateField(
        null=True,
        blank=True,
        help_text="When a repossession was recorded: the account may then be written off "
        "from a file outside a default status.",
    )
    last_worked_at = models.DateTimeField(null=True, blank=True)
    # Derived from the ledger and payments; see billing.services.
    current_balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    last_payment_amount = models.DecimalField(**MONEY, null=True, blank=True)
    last_payment_date = models.DateField(null=True, blank=True)
    declined_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_accounts",
        db_index=False,
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        permissions = [
            ("view_unmasked_data", "Can see unmasked account numbers, emails and phones"),
            ("work_account", "Can work accounts: notes, contact attempts"),
            ("assign_accounts", "Can assign accounts to collectors"),
            ("change_account_status", "Can change account status"),
            ("manage_account_flags", "Can add and remove account flags"),
            ("update_account_stage", "Can update the collections stage"),
            ("export_accounts", "Can export accounts"),
            ("mass_edit_accounts", "Can change many fields of many accounts at once (Mass Edit)"),
        ]
        # The grid always filters by company first: composite indexes let a
        # filtered count or a sorted page be one index range scan.
        indexes = [
            models.Index(fields=["account_number"], name="account_number_idx"),
            models.Index(fields=["company", "status"], name="account_co_status_idx"),
            # A collector's queue: their accounts, usually by balance.
            models.Index(
                fields=["company", "assigned_to", "current_balance"],
                name="account_co_assigned_idx",
            ),
            models.Index(fields=["company", "client", "status"], name="account_co_client_idx"),
            models.Index(fields=["company", "current_balance"], name="account_co_balance_idx"),
            models.Index(fields=["company", "last_worked_at"], name="account_co_worked_idx"),
            models.Index(fields=["company", "last_payment_date"], name="account_co_payment_idx"),
            # declined_count rides along so "days since default" + "declined at
            # least N" is counted from the index alone.
            models.Index(
                fields=["company", "default_date", "declined_count"], name="account_co_default_idx"
            ),
        ]

    def __str__(self):
        return self.file_number


class AccountFlag(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="account_flags")
    flag = models.ForeignKey(Flag, on_delete=models.PROTECT, related_name="account_flags")
    added_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "flag"], name="account_flag_unique"),
        ]


class AccountAccess(models.Model):
    """Grants a company other than the owner access to an account."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="account_access")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="access")
    granted_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name_plural = "account access"
        constraints = [
            models.UniqueConstraint(fields=["company", "account"], name="account_access_unique"),
        ]


class AccountRoleAssignment(models.Model):
    """A secondary role on an account besides the assigned collector."""

    class Role(models.TextChoices):
        NEGOTIATOR = "negotiator", "Negotiator"
        PROCESSOR = "processor", "Processor"
        LEGAL = "legal", "Legal"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=20, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_roles"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "role"], name="account_role_unique"),
        ]


class CustomFieldValue(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    value = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "field"], name="custom_value_unique"),
        ]


class NoteType(models.Model):
    company = _owner_company("own_note_types")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_company(
            "notetype", "name", message="A note type with this name exists."
        )

    def __str__(self):
        return self.name


class Note(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes")
    note_type = models.ForeignKey(NoteType, on_delete=models.PROTECT, null=True, blank=True)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "-created_at"], name="note_account_idx")]


class Alert(models.Model):
    """A message shown at the top of the account page."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="alerts")
    message = models.CharField(max_length=500)
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at"]


class SavedList(models.Model):
    """A named account list: filters, default sort, What Contacts and the
    columns in their order, shared with users or groups of the owner's
    company. Only the owner edits it."""

    class WhatContacts(models.TextChoices):
        """Whose accounts the list shows, on top of its filters. "My
        Accounts" are those assigned to whoever opens the list (for a list
        shared with a colleague: the colleague's)."""

        ALL = "all", "All Accounts"
        MINE = "mine", "My Accounts"
        UNASSIGNED = "unassigned", "Unassigned Accounts"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="saved_lists")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_lists"
    )
    name = models.CharField("List Name", max_length=100)
    filter_query = models.TextField(blank=True, help_text="The grid filters, as a query string.")
    default_sort = models.CharField("Default Sort", max_length=50, blank=True)
    what_contacts = models.CharField(
        "What Contacts", max_length=20, choices=WhatContacts.choices, default=WhatContacts.ALL
    )
    # The column keys in the order the grid shows them.
    columns = models.JSONField("Show Fields on List", default=list, blank=True)
    shared_with_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="lists_shared_with_me"
    )
    shared_with_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="saved_lists"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_list_unique_name"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def what_contacts_problem(cls, what_contacts: str, filter_query: str) -> str | None:
        """Why a list cannot have both: What Contacts other than All Accounts
        chooses the accounts by their Assigned To, so the list's filters
        must leave Assigned To alone."""
        label = dict(cls.WhatContacts.choices).get(what_contacts)
        if label is None or what_contacts == cls.WhatContacts.ALL:
            return None
        if any(value.strip() for value in parse_qs(filter_query).get("assigned_to", [])):
            return (
                f"What Contacts “{label}” already chooses the accounts by Assigned To: "
                "leave the Assigned To filter empty, or choose All Accounts."
            )
        return None


from accounts.models.files import AccountFile, FilePolicy  # noqa: E402
from accounts.models.work import (  # noqa: E402  (they refer to the models above)
    AccountPageLayout,
    DelinquencyReason,
    Interaction,
    InteractionOutcome,
    Task,
    WorkGroup,
    WorkQueue,
)

__all__ = [
    "AccountFile",
    "AccountPageLayout",
    "FilePolicy",
    "DelinquencyReason",
    "Interaction",
    "InteractionOutcome",
    "Task",
    "WorkGroup",
    "WorkQueue",
]

# The configuration models, each with the fields whose values must differ
# among the rows one company is offered together (the defaults and its own).
CONFIGURATION_UNIQUE: dict[type[models.Model], tuple[tuple[str, ...], ...]] = {
    AccountStatus: (("name",),),
    Flag: (("name",),),
    CustomField: (("name",), ("key",)),
    FileType: (("name",),),
    NoteType: (("name",),),
    Client: (("name",), ("code",)),
    Portfolio: (("client", "name"),),
    Creditor: (("name",),),
    Agency: (("name",), ("code",)),
    InteractionOutcome: (("name",),),
    DelinquencyReason: (("name",),),
}
