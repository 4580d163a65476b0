"""The reference rows of the demo: companies, offices, users with their roles,
clients and portfolios, creditors, statuses, flags, custom fields, file and
note types, agencies. Created through the ORM (a few dozen rows); the bulk
generators draw the ids they need from the ``ReferenceData`` returned.

The configuration is the platform's defaults, which the bulk generators draw
from; each company also has a status and a flag of its own (created last,
and never in ``ReferenceData``: the generated rows stay the same)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from accounts import models as m
from accounts.models.work import DEFAULT_OUTCOMES, DEFAULT_REASONS
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from communications.models import MessageTemplate, MessageTemplateVersion

DEMO_PASSWORD = "collect-demo-2026"  # noqa: S105 (printed demo login, documented)
PRINTED_LOGINS = [
    "northwind.admin",
    "northwind.supervisor",
    "northwind.collector1",
    "harbor.admin",
    "harbor.supervisor",
    "harbor.collector1",
]

# name, kind, username prefix, collectors, offices
COMPANIES = [
    ("Northwind Recovery", "agency", "northwind", 10, ["Northwind Dallas", "Northwind Tampa"]),
    ("Harbor Credit Union", "creditor", "harbor", 3, ["Harbor Main Office"]),
]
USER_FIRST_NAMES = ["Ava", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo"]
USER_LAST_NAMES = ["Reyes", "Okafor", "Lindqvist", "Patel", "Moreau", "Kowalski", "Tanaka"]
STATUSES = [
    # name, category, active, weight when seeding
    ("New", "active", True, 14),
    ("Active", "active", True, 22),
    ("Promise to Pay", "active", True, 8),
    ("Payment Plan", "active", True, 10),
    ("Skip Trace", "active", True, 5),
    ("In Default", "default", True, 14),
    ("Legal Review", "default", True, 4),
    ("Frozen", "frozen", True, 3),
    ("Terminated", "terminated", True, 3),
    ("Paid in Full", "closed", True, 0),
    ("Settled", "closed", True, 2),
    ("Dispute (legacy)", "active", False, 1),
]
FLAGS = [
    ("Bankruptcy", True),
    ("Cease and Desist", True),
    ("Deceased", True),
    ("Disputed", True),
    ("Do Not Call", True),
    ("Military", True),
    ("Attorney Represented", True),
    ("Hardship", True),
    ("High Balance", True),
    ("Fraud Claim (legacy)", False),
]
CUSTOM_FIELDS = [
    ("Employer", "employer", "text", ""),
    ("Credit Score", "credit_score", "number", ""),
    ("Last Skip Trace", "last_skip_trace", "date", ""),
    ("Preferred Language", "preferred_language", "choice", "English\nSpanish\nFrench"),
]
CLIENTS = [
    ("Lakeside Bank", "LKB"),
    ("Metro Utilities", "MTU"),
    ("Summit Medical Group", "SMG"),
    ("Cascade Telecom", "CTC"),
    ("Prairie Auto Finance", "PAF"),
    ("Harbor Retail Card", "HRC"),
]
CREDITORS = [
    "Lakeside Bank N.A.",
    "Metro Gas & Electric",
    "Summit Hospital",
    "Cascade Wireless",
    "Prairie Motors Credit",
    "Harbor Department Store",
    "Bluewater Credit Card",
    "Northstar Student Loans",
    "Evergreen Dental",
    "Riverside Clinic",
    "Keystone Mortgage",
    "Pioneer Broadband",
]
FILE_TYPES = ["Consumer", "Commercial", "Medical", "Student Loan"]
NOTE_TYPES = ["General", "Call", "Dispute", "Payment Arrangement", "Skip Trace"]
AGENCIES = [("Apex Recovery Partners", "APX"), ("Lone Star ARM", "LSA")]
# A company's own configuration, by username prefix: statuses (name,
# category) and flags only that company is offered.
COMPANY_CONFIGURATION = {
    "northwind": {"statuses": [("Callback Scheduled", "active")], "flags": ["Northwind Priority"]},
    "harbor": {
        "statuses": [("Member Hardship Review", "active")],
        "flags": ["Credit Union Member"],
    },
}


@dataclass
class ReferenceData:
    """Ids the bulk generator draws from."""

    companies: list[int]
    offices: dict[int, list[int]]
    collectors: dict[int, list[int]]
    creator_ids: list[int]
    clients: list[int]
    portfolios: dict[int, list[int]]
    creditors: list[int]
    statuses: list[tuple[int, str, int]]  # id, category, weight
    paid_status_id: int
    flags: list[int]
    custom_fields: dict[str, int]
    file_types: list[int]
    note_types: list[int]
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, company


@dataclass
class _Staff:
    """What the companies and their users contribute to ``ReferenceData``."""

    companies: list[int] = field(default_factory=list)
    offices: dict[int, list[int]] = field(default_factory=dict)
    collectors: dict[int, list[int]] = field(default_factory=dict)
    creator_ids: list[int] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)


def create_reference_data() -> ReferenceData:
    """Companies, offices, users with roles, and configuration rows."""
    staff = _create_companies_and_users()
    clients, portfolios = _create_clients_and_portfolios()
    creditors = [m.Creditor.objects.create(name=n).pk for n in CREDITORS]
    statuses, paid_status = _create_statuses()
    flags = _create_flags()
    custom_fields = {
        key: m.CustomField.objects.create(name=n, key=key, field_type=t, choices=c).pk
        for n, key, t, c in CUSTOM_FIELDS
    }
    file_types = [m.FileType.objects.create(name=n).pk for n in FILE_TYPES]
    note_types = [m.NoteType.objects.create(name=n).pk for n in NOTE_TYPES]
    for agency_name, code in AGENCIES:
        m.Agency.objects.create(
            name=agency_name, code=code, contact_email=f"placements@{code.lower()}.example.com"
        )
    _create_company_configuration(staff.companies, first_sort_order=len(STATUSES))
    _create_message_templates(staff.companies)
    _create_billing_defaults()
    return ReferenceData(
        companies=staff.companies,
        offices=staff.offices,
        collectors=staff.collectors,
        creator_ids=staff.creator_ids,
        clients=clients,
        portfolios=portfolios,
        creditors=creditors,
        statuses=statuses,
        paid_status_id=paid_status,
        flags=flags,
        custom_fields=custom_fields,
        file_types=file_types,
        note_types=note_types,
        logins=staff.logins,
    )


def _create_companies_and_users() -> _Staff:
    """Each company with its offices, an admin, a supervisor and collectors,
    all with the demo password (hashed once)."""
    groups = {g.name: g for g in Group.objects.filter(name__in=[COLLECTOR, SUPERVISOR, ADMIN])}
    password_hash = make_password(DEMO_PASSWORD)
    first_names = itertools.cycle(USER_FIRST_NAMES)
    last_names = itertools.cycle(USER_LAST_NAMES)
    staff = _Staff()
    for name, kind, prefix, n_collectors, office_names in COMPANIES:
        company = m.Company.objects.create(name=name, kind=kind)
        staff.companies.append(company.pk)
        company_offices = [
            m.Office.objects.create(company=company, name=o, max_messages_per_minute=120)
            for o in office_names
        ]
        staff.offices[company.pk] = [o.pk for o in company_offices]
        users = [(f"{prefix}.admin", ADMIN), (f"{prefix}.supervisor", SUPERVISOR)]
        users += [(f"{prefix}.collector{i}", COLLECTOR) for i in range(1, n_collectors + 1)]
        staff.collectors[company.pk] = []
        for index, (username, role) in enumerate(users):
            user = m.User.objects.create(
                username=username,
                password=password_hash,
                first_name=next(first_names),
                last_name=next(last_names),
                email=f"{username}@example.com",
                company=company,
                office=company_offices[index % len(company_offices)],
                is_staff=role == ADMIN,
            )
            user.groups.add(groups[role])
            if role == COLLECTOR:
                staff.collectors[company.pk].append(user.pk)
            else:
                staff.creator_ids.append(user.pk)
            if role != COLLECTOR or username.endswith("collector1"):
                staff.logins.append((username, role, name))
        # A queue every collector works, and a group of the supervisors, for tasks.
        queue = m.WorkQueue.objects.create(company=company, name="Collections")
        queue.members.add(*staff.collectors[company.pk])
        group = m.WorkGroup.objects.create(company=company, name="Supervisors")
        group.members.add(*m.User.objects.filter(company=company, groups__name=SUPERVISOR))
    return staff


def _create_clients_and_portfolios() -> tuple[list[int], dict[int, list[int]]]:
    """Each client with three portfolios (bought 2024 Q2, 2025 Q1, 2025 Q4)."""
    clients, portfolios = [], {}
    for client_name, code in CLIENTS:
        client = m.Client.objects.create(name=client_name, code=code)
        clients.append(client.pk)
        portfolios[client.pk] = [
            m.Portfolio.objects.create(
                client=client, name=f"{code} {year} Q{q}", purchased_on=dt.date(year, q * 3, 1)
            ).pk
            for year, q in ((2024, 2), (2025, 1), (2025, 4))
        ]
    return clients, portfolios


def _create_billing_defaults() -> None:
    """The platform's cancellation reasons and the "Fee" service type (the
    migrations make them; a wipe before a reseed takes them away)."""
    from billing.models import DEFAULT_CANCELLATION_REASONS, CancellationReason, ServiceType

    for order, name in enumerate(DEFAULT_CANCELLATION_REASONS):
        CancellationReason.objects.get_or_create(
            company=None, name=name, defaults={"sort_order": order}
        )
    ServiceType.objects.get_or_create(company=None, name="Fee")
    for model, names in (
        (m.InteractionOutcome, DEFAULT_OUTCOMES),
        (m.DelinquencyReason, DEFAULT_REASONS),
    ):
        for name in names:
            model.objects.get_or_create(company=None, name=name)


def _create_statuses() -> tuple[list[tuple[int, str, int]], int]:
    """(id, category, seeding weight) of every status, and the Paid in Full id."""
    statuses, paid_status = [], None
    for order, (status_name, category, active, weight) in enumerate(STATUSES):
        status = m.AccountStatus.objects.create(
            name=status_name, category=category, is_active=active, sort_order=order
        )
        statuses.append((status.pk, category, weight))
        if status_name == "Paid in Full":
            paid_status = status.pk
    return statuses, paid_status


def _create_flags() -> list[int]:
    """Every flag; the ids of the active ones (the only ones accounts get)."""
    flags = []
    for flag_name, active in FLAGS:
        flag = m.Flag.objects.create(name=flag_name, is_active=active)
        if active:
            flags.append(flag.pk)
    return flags


# Each company's starting message templates (communications), version 1.
MESSAGE_TEMPLATES = [
    {
        "channel": "email",
        "name": "Payment reminder",
        "subject": "Your account {{fileNumber}} with {{companyName}}",
        "html_body": (
            "<p>Dear {{debtorFirstName}},</p>"
            "<p>Our records show a balance of {{accountBalance}} on account {{fileNumber}}.</p>"
            "{{customBody}}"
            "<p>{{collectorName}}, {{companyName}}</p>"
            '<p><a href="{{optOutLink}}">Stop emails about this account</a></p>'
        ),
        "text_body": (
            "Dear {{debtorFirstName}},\n\nOur records show a balance of {{accountBalance}} on "
            "account {{fileNumber}}.\n\n{{customBody}}\n\n{{collectorName}}, {{companyName}}\n"
            "Stop emails about this account: {{optOutLink}}"
        ),
    },
    {
        "channel": "sms",
        "name": "Balance reminder",
        "body": "{{companyName}}: {{debtorFirstName}}, {{fileNumber}} has {{accountBalance}} due. "
        "{{optOutText}}",
    },
    {
        "channel": "voice",
        "name": "Call back request",
        "body": "Hello {{debtorFirstName}}. This is {{companyName}} about account {{fileNumber}}. "
        "Please call us back.",
    },
]


def _create_message_templates(companies: list[int]) -> None:
    for company_id in companies:
        for spec in MESSAGE_TEMPLATES:
            template = MessageTemplate.objects.create(company_id=company_id, **spec)
            content = {k: v for k, v in spec.items() if k not in ("channel", "name")}
            MessageTemplateVersion.objects.create(template=template, version=1, **content)


def _create_company_configuration(companies: list[int], *, first_sort_order: int) -> None:
    """Each company's own statuses and flags, after every default."""
    sort_order = itertools.count(first_sort_order)
    for company_id, (_name, _kind, prefix, *_rest) in zip(companies, COMPANIES, strict=True):
        own = COMPANY_CONFIGURATION.get(prefix, {})
        for status_name, category in own.get("statuses", []):
            m.AccountStatus.objects.create(
                company_id=company_id,
                name=status_name,
                category=category,
                sort_order=next(sort_order),
            )
        for flag_name in own.get("flags", []):
            m.Flag.objects.create(company_id=company_id, name=flag_name)
