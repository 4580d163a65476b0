"""The demo's bulk rows are a function of the seed (and the anchor): two
generations with the same seed give the same rows in every table, another
seed gives others. In process, no database: the reference ids are given."""

import datetime as dt

from demo.reference import ReferenceData
from demo.rows import BULK_TABLES, RowGenerator, check_columns

ANCHOR = dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)
CATEGORIES = [
    ("active", 14), ("active", 22), ("active", 8), ("active", 10), ("active", 5),
    ("default", 14), ("default", 4), ("frozen", 3), ("terminated", 3), ("closed", 0),
    ("closed", 2), ("active", 1),
]  # fmt: skip


def reference() -> ReferenceData:
    return ReferenceData(
        companies=[1, 2],
        offices={1: [1, 2], 2: [3]},
        collectors={1: list(range(3, 13)), 2: [15, 16, 17]},
        creator_ids=[1, 2, 13, 14],
        clients=list(range(1, 7)),
        portfolios={c: [3 * c - 2, 3 * c - 1, 3 * c] for c in range(1, 7)},
        creditors=list(range(1, 13)),
        statuses=[(i, category, weight) for i, (category, weight) in enumerate(CATEGORIES, 1)],
        paid_status_id=10,
        flags=list(range(1, 10)),
        custom_fields={"employer": 1, "credit_score": 2},
        file_types=[1, 2, 3, 4],
        note_types=[1, 2, 3, 4, 5],
    )


def generate(seed: int) -> dict[type, list[tuple]]:
    """300 accounts in two chunks (ids carry on from one to the next)."""
    generator = RowGenerator(reference(), seed=seed, anchor=ANCHOR)
    first, second = generator.chunk(0, 200), generator.chunk(200, 100)
    return {model: first[model] + second[model] for model, _ in BULK_TABLES}


def test_the_same_seed_gives_the_same_rows_in_every_table():
    check_columns()
    rows, again = generate(42), generate(42)
    assert rows == again
    assert len(rows[BULK_TABLES[3][0]]) == 300  # the accounts
    for model, columns in BULK_TABLES:
        assert rows[model], model
        assert {len(row) for row in rows[model]} == {len(columns)}, model
        ids = [row[0] for row in rows[model]]
        assert ids == list(range(1, len(ids) + 1)), model


def test_another_seed_gives_other_rows():
    rows, other = generate(42), generate(43)
    for model, _ in BULK_TABLES:
        assert rows[model] != other[model], model
