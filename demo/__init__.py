"""Realistic, reproducible demo data for ``manage.py seed_demo`` and the bench.

A plain package, not a Django app: it fills the tables of ``accounts`` and
``billing`` (and empties those of ``bulkops``).

* ``words``: the names, streets, places ... the rows are made of;
* ``reference``: companies, offices, users and roles, configuration
  (through the ORM);
* ``rows``: the bulk rows, one generator per table sharing one seeded RNG;
* ``loader``: COPY on PostgreSQL (secondary structures dropped and rebuilt),
  batched INSERTs on SQLite;
* ``seed``: ``load``, ``wipe``, ``is_seeded``.

The same seed and anchor give the same rows on either database.
"""

from demo.reference import DEMO_PASSWORD, PRINTED_LOGINS
from demo.seed import is_seeded, load, wipe

__all__ = ["DEMO_PASSWORD", "PRINTED_LOGINS", "is_seeded", "load", "wipe"]
