"""Realistic, reproducible demo data for ``manage.py seed_demo``.

Reference data (companies, users, statuses, ...) is created through the ORM.
The bulk (debtors, accounts, claims, ledger, payments, ...) comes from one
deterministic row generator (``random.Random(seed)``), written with COPY on
PostgreSQL and with batched INSERTs on SQLite. Derived account fields are
computed from the same simulated ledger, so ``check_balances`` is clean.

On PostgreSQL the load runs in ONE transaction that first drops the bulk
tables' secondary indexes and constraints and rebuilds them at the end: one
sort per index instead of millions of incremental inserts and deferred
foreign-key triggers. A failure rolls everything back, DDL included.
"""

from __future__ import annotations

import datetime as dt
import io
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from accounts import models as m
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from billing import models as b

DEMO_PASSWORD = "collect-demo-2026"  # noqa: S105 (printed demo login, documented)
CHUNK_ACCOUNTS = 20_000
PRINTED_LOGINS = [
    "northwind.admin",
    "northwind.supervisor",
    "northwind.collector1",
    "harbor.admin",
    "harbor.supervisor",
    "harbor.collector1",
]

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Dorothy",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "José",
    "María",
    "Zoë",
    "Renée",
    "Noël",
    "Chloé",
    "André",
    "Beatriz",
    "Héctor",
    "Inés",
    "Łukasz",
    "Søren",
    "Björn",
    "Zoltán",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jiménez",
    "Núñez",
    "O'Brien",
    "Müller",
]
STREETS = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "View",
    "Sunset",
    "Lincoln",
    "Jackson",
    "Church",
    "River",
    "Highland",
    "Forest",
    "Meadow",
    "Spring",
    "Ridge",
    "Valley",
    "Walnut",
    "Willow",
    "Chestnut",
]
STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way"]
# (state, weight, cities)
STATES = [
    ("CA", 12, ["Los Angeles", "San Diego", "Sacramento", "Fresno"]),
    ("TX", 9, ["Houston", "Dallas", "Austin", "San Antonio"]),
    ("FL", 7, ["Miami", "Tampa", "Orlando", "Jacksonville"]),
    ("NY", 6, ["New York", "Buffalo", "Rochester", "Albany"]),
    ("PA", 4, ["Philadelphia", "Pittsburgh", "Allentown"]),
    ("IL", 4, ["Chicago", "Springfield", "Peoria"]),
    ("OH", 4, ["Columbus", "Cleveland", "Cincinnati"]),
    ("GA", 3, ["Atlanta", "Savannah", "Augusta"]),
    ("NC", 3, ["Charlotte", "Raleigh", "Greensboro"]),
    ("MI", 3, ["Detroit", "Grand Rapids", "Lansing"]),
    ("NJ", 3, ["Newark", "Jersey City", "Trenton"]),
    ("AZ", 2, ["Phoenix", "Tucson", "Mesa"]),
    ("WA", 2, ["Seattle", "Spokane", "Tacoma"]),
    ("CO", 2, ["Denver", "Colorado Springs"]),
    ("TN", 2, ["Nashville", "Memphis", "Knoxville"]),
    ("IN", 2, ["Indianapolis", "Fort Wayne"]),
    ("MA", 2, ["Boston", "Worcester"]),
    ("NV", 1, ["Las Vegas", "Reno"]),
    ("OR", 1, ["Portland", "Salem"]),
    ("AK", 1, ["Anchorage"]),
    ("HI", 1, ["Honolulu"]),
]
EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com"]

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
EMPLOYERS = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Foods",
    "Self-employed",
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
NOTE_BODIES = [
    "Left voicemail, asked for call back.",
    "Debtor promised to call back on Friday.",
    "Verified address by phone.",
    "Debtor requested validation letter.",
    "Discussed payment plan options.",
    "Wrong number reached, marked for skip trace.",
    "Debtor says payment was sent by mail.",
]
SERVICES = [
    "Broadband 100",
    "Mobile Unlimited",
    "Solar Home Kit",
    "Gym Membership",
    "Home Security",
]


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


def create_reference_data() -> ReferenceData:
    """Companies, offices, users with roles, and configuration rows."""
    groups = {g.name: g for g in Group.objects.filter(name__in=[COLLECTOR, SUPERVISOR, ADMIN])}
    company_specs = [
        ("Northwind Recovery", "agency", "northwind", 10, ["Northwind Dallas", "Northwind Tampa"]),
        ("Harbor Credit Union", "creditor", "harbor", 3, ["Harbor Main Office"]),
    ]
    from django.contrib.auth.hashers import make_password

    password_hash = make_password(DEMO_PASSWORD)
    companies, offices, collectors, creators, logins = [], {}, {}, [], []
    first_names = iter(["Ava", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo"] * 5)
    last_names = iter(["Reyes", "Okafor", "Lindqvist", "Patel", "Moreau", "Kowalski", "Tanaka"] * 8)
    for name, kind, prefix, n_collectors, office_names in company_specs:
        company = m.Company.objects.create(name=name, kind=kind)
        companies.append(company.pk)
        company_offices = [
            m.Office.objects.create(company=company, name=o, max_messages_per_minute=120)
            for o in office_names
        ]
        offices[company.pk] = [o.pk for o in company_offices]
        users = [(f"{prefix}.admin", ADMIN), (f"{prefix}.supervisor", SUPERVISOR)]
        users += [(f"{prefix}.collector{i}", COLLECTOR) for i in range(1, n_collectors + 1)]
        collectors[company.pk] = []
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
                collectors[company.pk].append(user.pk)
            else:
                creators.append(user.pk)
            if role != COLLECTOR or username.endswith("collector1"):
                logins.append((username, role, name))

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
    creditors = [m.Creditor.objects.create(name=n).pk for n in CREDITORS]
    statuses, paid_status = [], None
    for order, (status_name, category, active, weight) in enumerate(STATUSES):
        status = m.AccountStatus.objects.create(
            name=status_name, category=category, is_active=active, sort_order=order
        )
        statuses.append((status.pk, category, weight))
        if status_name == "Paid in Full":
            paid_status = status.pk
    flags = []
    for flag_name, active in FLAGS:
        flag = m.Flag.objects.create(name=flag_name, is_active=active)
        if active:
            flags.append(flag.pk)
    custom_fields = {
        key: m.CustomField.objects.create(name=n, key=key, field_type=t, choices=c).pk
        for n, key, t, c in CUSTOM_FIELDS
    }
    file_types = [m.FileType.objects.create(name=n).pk for n in FILE_TYPES]
    note_types = [m.NoteType.objects.create(name=n).pk for n in NOTE_TYPES]
    for agency_name, code in (("Apex Recovery Partners", "APX"), ("Lone Star ARM", "LSA")):
        m.Agency.objects.create(
            name=agency_name, code=code, contact_email=f"placements@{code.lower()}.example.com"
        )
    return ReferenceData(
        companies=companies,
        offices=offices,
        collectors=collectors,
        creator_ids=creators,
        clients=clients,
        portfolios=portfolios,
        creditors=creditors,
        statuses=statuses,
        paid_status_id=paid_status,
        flags=flags,
        custom_fields=custom_fields,
        file_types=file_types,
        note_types=note_types,
        logins=logins,
    )


# The bulk tables, in load order, with the exact column order the generator
# emits. ``check_columns`` fails loudly if a model drifts from this.
BULK_TABLES: list[tuple[type, list[str]]] = [
    (
        m.Debtor,
        [
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
        ],
    ),
    (
        m.DebtorEmail,
        [
            "id",
            "debtor_id",
            "is_primary",
            "validity",
            "validity_note",
            "validity_changed_by_id",
            "validity_changed_at",
            "address",
            "email_consent",
            "email_opted_out",
            "opted_out_at",
        ],
    ),
    (
        m.DebtorPhone,
        [
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
            "sms_opted_out",
            "voice_consent",
            "voice_opted_out",
            "opted_out_at",
        ],
    ),
    (
        m.Account,
        [
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
            "last_worked_at",
            "current_balance",
            "last_payment_amount",
            "last_payment_date",
            "declined_count",
            "created_by_id",
            "created_at",
        ],
    ),
    (m.AccountAccess, ["id", "company_id", "account_id", "granted_at"]),
    (m.AccountFlag, ["id", "account_id", "flag_id", "added_at"]),
    (m.CustomFieldValue, ["id", "account_id", "field_id", "value"]),
    (m.Note, ["id", "account_id", "note_type_id", "body", "author_id", "created_at"]),
    (
        b.Subscription,
        [
            "id",
            "account_id",
            "service_name",
            "initial_service_discount",
            "status",
            "started_on",
            "frozen_at",
        ],
    ),
    (
        b.Claim,
        [
            "id",
            "account_id",
            "subscription_id",
            "reference",
            "original_amount",
            "balance",
            "due_date",
            "status",
            "created_at",
        ],
    ),
    (
        b.PaymentMethod,
        ["id", "account_id", "kind", "label", "mandate_reference", "is_active", "disabled_until"],
    ),
    (
        b.Payment,
        [
            "id",
            "account_id",
            "claim_id",
            "amount",
            "status",
            "payment_method_id",
            "credited_to_id",
            "received_at",
            "posted_at",
            "decline_reason",
        ],
    ),
    (
        b.LedgerEntry,
        [
            "id",
            "account_id",
            "claim_id",
            "kind",
            "amount",
            "payment_method_id",
            "payment_id",
            "context",
            "bulk_operation_id",
            "description",
            "posted_at",
            "created_by_id",
        ],
    ),
]


def check_columns() -> None:
    for model, columns in BULK_TABLES:
        actual = [f.column for f in model._meta.concrete_fields]
        if actual != columns:
            raise RuntimeError(
                f"seed_demo is out of date for {model._meta.label}: model columns {actual}"
            )


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class RowGenerator:
    """Yields, chunk by chunk, the rows of every bulk table for N accounts."""

    def __init__(self, ref: ReferenceData, *, seed: int, anchor: dt.datetime):
        self.ref = ref
        self.rng = random.Random(seed)
        self.anchor = anchor
        self.next_id = {model: 1 for model, _ in BULK_TABLES}
        statuses = [s for s in ref.statuses if s[2] > 0]
        self.status_ids = [s[0] for s in statuses]
        self.status_weights = [s[2] for s in statuses]
        self.status_category = {s[0]: s[1] for s in ref.statuses}
        self.state_codes = [s[0] for s in STATES]
        self.state_weights = [s[1] for s in STATES]
        self.state_cities = {s[0]: s[2] for s in STATES}
        self.client_ids = ref.clients
        self.primary_company, self.second_company = ref.companies[0], ref.companies[1]

    def _ids(self, model, n: int) -> int:
        first = self.next_id[model]
        self.next_id[model] = first + n
        return first

    def chunk(self, first_index: int, count: int) -> dict[type, list[tuple]]:
        """Rows for accounts ``first_index .. first_index + count - 1``."""
        rng = self.rng
        rnd = rng.random
        randrange = rng.randrange
        choice = rng.choice
        anchor = self.anchor
        anchor_date = anchor.date()
        ref = self.ref
        td = dt.timedelta
        out: dict[type, list[tuple]] = {model: [] for model, _ in BULK_TABLES}
        debtors, emails, phones = out[m.Debtor], out[m.DebtorEmail], out[m.DebtorPhone]
        accounts, access, flags = out[m.Account], out[m.AccountAccess], out[m.AccountFlag]
        customs, notes, subs = out[m.CustomFieldValue], out[m.Note], out[b.Subscription]
        claims, methods = out[b.Claim], out[b.PaymentMethod]
        payments, ledger = out[b.Payment], out[b.LedgerEntry]
        nid = self.next_id
        statuses = rng.choices(self.status_ids, self.status_weights, k=count)
        states = rng.choices(self.state_codes, self.state_weights, k=count)
        custom = ref.custom_fields

        for offset in range(count):
            index = first_index + offset
            # --- debtor and contact points
            debtor_id = nid[m.Debtor]
            nid[m.Debtor] += 1
            first, last = choice(FIRST_NAMES), choice(LAST_NAMES)
            state = states[offset]
            created_at = anchor - td(days=randrange(30, 1100), seconds=randrange(86400))
            debtors.append(
                (
                    debtor_id,
                    first,
                    choice(FIRST_NAMES)[0] if rnd() < 0.3 else "",
                    last,
                    dt.date(1950 + randrange(55), 1 + randrange(12), 1 + randrange(28)),
                    f"{randrange(10000):04d}",
                    "es-US" if rnd() < 0.08 else "en-US",
                    "",
                    f"{randrange(1, 9999)} {choice(STREETS)} {choice(STREET_KINDS)}",
                    f"Apt {randrange(1, 300)}" if rnd() < 0.2 else "",
                    choice(self.state_cities[state]),
                    state,
                    f"{randrange(10000, 99999)}",
                    "US",
                    created_at,
                )
            )
            local = f"{first}.{last}{index}".lower().replace("'", "")
            n_emails = 1 if rnd() < 0.8 else (2 if rnd() < 0.9 else 0)
            for e in range(n_emails):
                invalid = rnd() < 0.05
                emails.append(
                    (
                        nid[m.DebtorEmail],
                        debtor_id,
                        e == 0,
                        "invalid" if invalid else ("valid" if rnd() < 0.7 else "unknown"),
                        "Bounced" if invalid else "",
                        None,
                        created_at if invalid else None,
                        f"{local}{'' if e == 0 else '.alt'}@{choice(EMAIL_DOMAINS)}",
                        True,
                        rnd() < 0.02,
                        None,
                    )
                )
                nid[m.DebtorEmail] += 1
            for p in range(1 if rnd() < 0.75 else 2):
                invalid = rnd() < 0.07
                phones.append(
                    (
                        nid[m.DebtorPhone],
                        debtor_id,
                        p == 0,
                        "invalid" if invalid else ("valid" if rnd() < 0.6 else "unknown"),
                        "Disconnected" if invalid else "",
                        None,
                        created_at if invalid else None,
                        f"+1{randrange(201, 989)}555{randrange(10000):04d}",
                        "mobile" if p == 0 and rnd() < 0.8 else choice(("home", "work")),
                        True,
                        rnd() < 0.03,
                        True,
                        rnd() < 0.02,
                        None,
                    )
                )
                nid[m.DebtorPhone] += 1

            # --- the account
            account_id = nid[m.Account]
            nid[m.Account] += 1
            company = self.primary_company if rnd() < 0.85 else self.second_company
            client = choice(self.client_ids)
            status = statuses[offset]
            # --- claims, ledger and payments (integer cents, then formatted)
            sub_id = None
            if rnd() < 0.25:
                sub_id = nid[b.Subscription]
                nid[b.Subscription] += 1
                subs.append(
                    (
                        sub_id,
                        account_id,
                        choice(SERVICES),
                        _money(randrange(0, 5000)),
                        "frozen" if self.status_category[status] == "frozen" else "active",
                        (created_at - td(days=randrange(30, 400))).date(),
                        None,
                    )
                )
            method_id = None
            if rnd() < 0.55:
                method_id = nid[b.PaymentMethod]
                nid[b.PaymentMethod] += 1
                is_card = rnd() < 0.7
                methods.append(
                    (
                        method_id,
                        account_id,
                        "card" if is_card else "bank",
                        f"{'Visa' if is_card else 'Checking'} ending {randrange(10000):04d}",
                        f"MND-{account_id:09d}",
                        True,
                        None,
                    )
                )
            balance = declined = 0
            last_paid_at = last_paid_cents = None
            n_claims = 1 if rnd() < 0.65 else (2 if rnd() < 0.85 else 3)
            for c in range(n_claims):
                claim_id = nid[b.Claim]
                nid[b.Claim] += 1
                original = int(rng.lognormvariate(10.5, 0.9)) % 900_000 + 2_500
                claim_balance = original
                claim_at = created_at + td(days=c * 30)
                ledger.append(
                    (
                        nid[b.LedgerEntry],
                        account_id,
                        claim_id,
                        "charge",
                        _money(original),
                        None,
                        None,
                        "system",
                        None,
                        "Original balance",
                        claim_at,
                        None,
                    )
                )
                nid[b.LedgerEntry] += 1
                if rnd() < 0.1:
                    fee = choice((2500, 3500))
                    claim_balance += fee
                    ledger.append(
                        (
                            nid[b.LedgerEntry],
                            account_id,
                            claim_id,
                            "fee",
                            _money(fee),
                            None,
                            None,
                            "system",
                            None,
                            "Late fee",
                            claim_at + td(days=35),
                            None,
                        )
                    )
                    nid[b.LedgerEntry] += 1
                r = rnd()
                n_payments = 0 if r < 0.45 else (1 if r < 0.75 else (2 if r < 0.9 else 3))
                pay_at = claim_at
                for _ in range(n_payments):
                    if claim_balance <= 0:
                        break
                    pay_at = pay_at + td(days=randrange(10, 60), seconds=randrange(86400))
                    if pay_at > anchor:
                        break
                    if rnd() < 0.15:
                        amount = claim_balance  # paid in full
                    else:
                        amount = max(500, claim_balance * randrange(5, 40) // 100)
                        amount = min(amount, claim_balance)
                    s = rnd()
                    pstatus = "posted" if s < 0.8 else ("declined" if s < 0.92 else "pending")
                    payment_id = nid[b.Payment]
                    nid[b.Payment] += 1
                    payments.append(
                        (
                            payment_id,
                            account_id,
                            claim_id,
                            _money(amount),
                            pstatus,
                            method_id,
                            None,
                            pay_at,
                            pay_at if pstatus == "posted" else None,
                            "Insufficient funds" if pstatus == "declined" else "",
                        )
                    )
                    if pstatus == "posted":
                        claim_balance -= amount
                        ledger.append(
                            (
                                nid[b.LedgerEntry],
                                account_id,
                                claim_id,
                                "payment",
                                _money(-amount),
                                method_id,
                                payment_id,
                                "system",
                                None,
                                "Payment",
                                pay_at,
                                None,
                            )
                        )
                        nid[b.LedgerEntry] += 1
                        if last_paid_at is None or pay_at > last_paid_at:
                            last_paid_at, last_paid_cents = pay_at, amount
                    elif pstatus == "declined":
                        declined += 1
                balance += claim_balance
                claims.append(
                    (
                        claim_id,
                        account_id,
                        sub_id,
                        f"INV-{account_id:08d}-{c + 1}",
                        _money(original),
                        _money(claim_balance),
                        (claim_at + td(days=30)).date(),
                        "paid" if claim_balance == 0 else "open",
                        claim_at,
                    )
                )
            if balance == 0:
                status = ref.paid_status_id
            category = self.status_category[status]
            default_date = None
            if category in ("default", "terminated"):
                default_date = (created_at + td(days=randrange(60, 400))).date()
                default_date = min(default_date, anchor_date)
            terminated_on = None
            if category == "terminated":
                terminated_on = min(default_date + td(days=randrange(30, 200)), anchor_date)
            assigned = None
            if rnd() < 0.85:
                assigned = choice(ref.collectors[company])
            last_worked = (
                anchor - td(days=randrange(0, 120), seconds=randrange(86400))
                if rnd() < 0.8
                else None
            )
            stage = "not_set" if rnd() < 0.7 else ("pending" if rnd() < 0.6 else "sent")
            accounts.append(
                (
                    account_id,
                    f"F{index + 1:08d}",
                    f"{randrange(10**11, 10**12)}",
                    company,
                    client,
                    choice(ref.portfolios[client]),
                    choice(ref.creditors),
                    debtor_id,
                    choice(ref.offices[company]),
                    status,
                    stage,
                    assigned,
                    choice(ref.file_types),
                    default_date,
                    terminated_on,
                    last_worked,
                    _money(balance),
                    _money(last_paid_cents) if last_paid_cents is not None else None,
                    last_paid_at.date() if last_paid_at is not None else None,
                    declined,
                    choice(ref.creator_ids),
                    created_at,
                )
            )
            if company == self.primary_company and rnd() < 0.05:
                access.append((nid[m.AccountAccess], self.second_company, account_id, created_at))
                nid[m.AccountAccess] += 1
            if rnd() < 0.2:
                for flag in rng.sample(ref.flags, 1 if rnd() < 0.8 else 2):
                    flags.append((nid[m.AccountFlag], account_id, flag, created_at))
                    nid[m.AccountFlag] += 1
            if rnd() < 0.3:
                customs.append(
                    (nid[m.CustomFieldValue], account_id, custom["employer"], choice(EMPLOYERS))
                )
                nid[m.CustomFieldValue] += 1
            if rnd() < 0.15:
                customs.append(
                    (
                        nid[m.CustomFieldValue],
                        account_id,
                        custom["credit_score"],
                        str(randrange(450, 820)),
                    )
                )
                nid[m.CustomFieldValue] += 1
            if rnd() < 0.25:
                notes.append(
                    (
                        nid[m.Note],
                        account_id,
                        choice(ref.note_types),
                        choice(NOTE_BODIES),
                        assigned,
                        last_worked or created_at,
                    )
                )
                nid[m.Note] += 1
        return out


# --- writers -------------------------------------------------------------------


def _copy_text(rows: list[tuple]) -> str:
    buf = io.StringIO()
    write = buf.write
    for row in rows:
        write("\t".join(["\\N" if v is None else str(v) for v in row]))
        write("\n")
    return buf.getvalue()


class PostgresBulkLoader:
    """COPY in a background thread while the main thread generates the next chunk."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        raw = self.cursor.cursor  # psycopg2 cursor under Django's wrapper
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                for model, columns, text in item:
                    raw.copy_expert(
                        f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN",
                        io.StringIO(text),
                    )
        except BaseException as exc:  # surfaced by the main thread
            self.error = exc
            while self.queue.get() is not None:
                pass

    def start(self):
        self.thread.start()

    def put(self, chunk: dict[type, list[tuple]]):
        if self.error:
            raise self.error
        self.queue.put(
            [(model, cols, _copy_text(chunk[model])) for model, cols in BULK_TABLES if chunk[model]]
        )

    def finish(self):
        self.queue.put(None)
        self.thread.join()
        if self.error:
            raise self.error


def _drop_secondary_structures(cursor) -> list[str]:
    """Drop the bulk tables' non-primary indexes and FK/unique constraints.
    Returns the statements that recreate them."""
    tables = [model._meta.db_table for model, _ in BULK_TABLES]
    cursor.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c
        WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('f', 'u')
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    recreate = [indexdef for _, indexdef in indexes]
    # Unique constraints before foreign keys (an FK may rely on one).
    order = {"u": 0, "f": 1}
    for name, table, definition, _kind in sorted(constraints, key=lambda c: order[c[3]]):
        recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, table, _definition, kind in constraints:
        if kind == "f":
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, table, _definition, kind in constraints:
        if kind != "f":
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return recreate


def _sqlite_value(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def load(
    n_accounts: int,
    *,
    seed: int = 42,
    anchor: dt.datetime | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> ReferenceData:
    """Create reference data and ``n_accounts`` accounts with everything under them."""
    check_columns()
    anchor = (anchor or timezone.now()).replace(minute=0, second=0, microsecond=0)
    started = time.monotonic()
    with transaction.atomic():
        ref = create_reference_data()
        generator = RowGenerator(ref, seed=seed, anchor=anchor)
        chunks: Iterator[tuple[int, int]] = (
            (start, min(CHUNK_ACCOUNTS, n_accounts - start))
            for start in range(0, n_accounts, CHUNK_ACCOUNTS)
        )
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                # Run the reference rows' deferred FK checks now: PostgreSQL
                # refuses to ALTER a table with pending trigger events.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                recreate = _drop_secondary_structures(cursor)
                loader = PostgresBulkLoader(cursor)
                loader.start()
                try:
                    for start, count in chunks:
                        loader.put(generator.chunk(start, count))
                        progress(
                            f"  generated {start + count:,} accounts ({time.monotonic() - started:.0f}s)"
                        )
                finally:
                    loader.finish()
                progress(f"  rebuilding {len(recreate)} indexes and constraints")
                for statement in recreate:
                    cursor.execute(statement)
            else:
                for start, count in chunks:
                    rows = generator.chunk(start, count)
                    for model, columns in BULK_TABLES:
                        if rows[model]:
                            cursor.executemany(
                                f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
                                f"VALUES ({', '.join(['%s'] * len(columns))})",
                                [tuple(_sqlite_value(v) for v in row) for row in rows[model]],
                            )
                    progress(
                        f"  inserted {start + count:,} accounts ({time.monotonic() - started:.0f}s)"
                    )
            for statement in connection.ops.sequence_reset_sql(
                no_style(), [mdl for mdl, _ in BULK_TABLES]
            ):
                cursor.execute(statement)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model, _ in BULK_TABLES:
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    return ref


DEMO_TABLES_IN_DELETE_ORDER = [
    "bulkops.AuditEvent",
    "billing.LedgerEntry",
    "billing.Payment",
    "billing.Claim",
    "billing.Subscription",
    "billing.PaymentMethod",
    "bulkops.BulkOperation",
    "accounts.Note",
    "accounts.Alert",
    "accounts.CustomFieldValue",
    "accounts.AccountFlag",
    "accounts.AccountAccess",
    "accounts.AccountRoleAssignment",
    "accounts.Account",
    "accounts.DebtorEmail",
    "accounts.DebtorPhone",
    "accounts.Debtor",
    "accounts.User",
    "accounts.Office",
    "accounts.Company",
    "accounts.Portfolio",
    "accounts.Client",
    "accounts.Creditor",
    "accounts.Agency",
    "accounts.AccountStatus",
    "accounts.Flag",
    "accounts.CustomField",
    "accounts.FileType",
    "accounts.NoteType",
]


def wipe() -> None:
    """Delete ALL domain data, users included (a developer's reset)."""
    from django.apps import apps

    models_in_order = [apps.get_model(label) for label in DEMO_TABLES_IN_DELETE_ORDER]
    user_links = [m.User.groups.through, m.User.user_permissions.through]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(mdl._meta.db_table for mdl in models_in_order)
            cursor.execute(f"TRUNCATE {tables} CASCADE")
        else:
            cursor.execute("DELETE FROM django_admin_log")
            for mdl in user_links + models_in_order:
                cursor.execute(f"DELETE FROM {mdl._meta.db_table}")


def is_seeded() -> bool:
    return m.Company.objects.exists() or m.Account.objects.exists()
