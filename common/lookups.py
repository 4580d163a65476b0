"""``field__any=[...]``: membership in a list of thousands of values, sent as
ONE parameter.

``field__in`` turns every value into its own placeholder, and Django prepares
each one in Python: for a bulk chunk of 10,000 ids that is 10,000 parameters,
several times a chunk. ``__any`` sends the list whole: an array on PostgreSQL
(``= ANY(%s)``, which the planner treats exactly like ``IN``), a JSON array
read by ``json_each`` on SQLite. The values must already be of the column's
type (ints for ids); an empty list matches nothing.
"""

from __future__ import annotations

import json

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # the list is sent as it is, not value by value

    def get_prep_lookup(self):
        values = list(self.rhs)
        for value in values:
            if not isinstance(value, int | str) or isinstance(value, bool):
                raise TypeError(f"__any takes ints or strings, not {type(value).__name__}.")
        return values

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, json.dumps(self.rhs)]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # account__any=ids, as account_id__any=ids
