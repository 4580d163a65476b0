"""What every table's generator shares: one seeded RNG, the ids handed out so
far, the rows of the chunk being generated, and the account being built.

The RNG is one stream for all tables: the generators draw from it in a fixed
order, account by account, so the same seed (and the same anchor) gives the
same rows. A generator that draws one number more, or in another order,
changes every row after it."""

from __future__ import annotations

import datetime as dt
import random

from demo.reference import ReferenceData
from demo.words import STATES


def money(cents: int) -> str:
    """Integer cents as the text COPY and SQLite take for a decimal."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class Context:
    """The seeded RNG (and its bound methods, looked up once), the reference
    ids, the next id of every bulk table and the current chunk's rows."""

    def __init__(self, ref: ReferenceData, models: list[type], *, seed: int, anchor: dt.datetime):
        self.ref = ref
        self.rng = rng = random.Random(seed)
        self.rnd = rng.random
        self.randrange = rng.randrange
        self.choice = rng.choice
        self.anchor = anchor
        self.anchor_date = anchor.date()
        self.models = models
        self.next_id = dict.fromkeys(models, 1)
        self.rows: dict[type, list[tuple]] = {model: [] for model in models}
        statuses = [s for s in ref.statuses if s[2] > 0]
        self.status_ids = [s[0] for s in statuses]
        self.status_weights = [s[2] for s in statuses]
        self.status_category = {s[0]: s[1] for s in ref.statuses}
        self.state_codes = [s[0] for s in STATES]
        self.state_weights = [s[1] for s in STATES]
        self.state_cities = {s[0]: s[2] for s in STATES}
        self.primary_company, self.second_company = ref.companies[0], ref.companies[1]

    def new_chunk(self) -> dict[type, list[tuple]]:
        """Start collecting a new chunk's rows (every table, in load order)."""
        self.rows = {model: [] for model in self.models}
        return self.rows

    def new_id(self, model: type) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value


class AccountDraft:
    """One account while its rows are generated: what a later table's
    generator needs from an earlier one's (ids, dates, the running balance)."""

    __slots__ = (
        "index",
        "state",
        "status",
        "debtor_id",
        "first_name",
        "last_name",
        "created_at",
        "account_id",
        "company",
        "client",
        "subscription_id",
        "method_id",
        "balance",
        "declined",
        "last_paid_at",
        "last_paid_cents",
        "assigned",
        "last_worked",
    )

    def __init__(self, index: int, state: str, status: int):
        self.index = index
        self.state = state
        self.status = status
        self.subscription_id = self.method_id = None
        self.balance = self.declined = 0
        self.last_paid_at = self.last_paid_cents = None
        self.assigned = self.last_worked = None
