"""Select all, exclude three rows, count: ``Selection.count`` against the
hand-written ``COUNT(*) ... NOT IN (...)``, for the platform operator (every
account) and for one company's supervisor."""

from __future__ import annotations

from bench.harness import operator, percentiles, time_ms


def bench_select_all(repeat: int) -> list[dict]:
    """Select all, exclude three rows, count: the Selection object vs raw SQL."""
    from django.db import connection
    from django.http import QueryDict

    from accounts.models import User
    from bulkops.selection import Selection

    results = []
    platform_operator = operator()
    supervisor = User.objects.get(username="northwind.supervisor")
    for label, user, where in (
        ("every account (platform operator)", platform_operator, "TRUE"),
        ("one company's accounts", supervisor, f"a.company_id = {supervisor.company_id}"),
    ):
        excluded = list(
            Selection("accounts", all_matching=True)
            .resolve(user)
            .order_by("pk")
            .values_list("pk", flat=True)[:3]
        )
        selection = Selection.for_filters("accounts", QueryDict()).select_all()
        for account_id in excluded:
            selection = selection.toggle(account_id, checked=False)
        expected = Selection("accounts", all_matching=True).resolve(user).count() - 3

        def count(selection=selection, user=user, expected=expected):
            assert selection.count(user) == expected

        def raw(where=where, excluded=excluded):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COUNT(*) FROM accounts_account a WHERE {where} "
                    "AND a.id NOT IN (%s, %s, %s)",
                    excluded,
                )
                cursor.fetchone()

        selection_times = percentiles(time_ms(count, repeat))
        raw_times = percentiles(time_ms(raw, repeat))
        results.append(
            {
                "selection": f"select all of {label}, exclude 3, count",
                "selected": expected,
                "selection_count": selection_times,
                "raw_sql": raw_times,
                "ratio": round(selection_times["p50_ms"] / raw_times["p50_ms"], 2),
            }
        )
    return results
