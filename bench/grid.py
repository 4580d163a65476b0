"""The accounts grid: the page (filters, the counter, 50 sorted rows) for
representative filters, through Django's whole handler stack in process,
against the same count + page as hand-written SQL (the floor) and the Django
admin changelist with the same filter, sort and page size (the baseline)."""

from __future__ import annotations

import datetime as dt

from bench.harness import percentiles, time_ms


def representative_filters():
    """(name, grid query, admin query, raw SQL WHERE, raw SQL ORDER BY)."""
    from django.utils import timezone

    from accounts.models import AccountStatus, Client, User

    status = {s.name: s.pk for s in AccountStatus.objects.all()}
    client = Client.objects.order_by("pk").first().pk
    collector = User.objects.get(username="northwind.collector3").pk
    cutoff = timezone.localdate() - dt.timedelta(days=90)
    active, new, default = status["Active"], status["New"], status["In Default"]
    return [
        (
            "all accounts, by file number",
            "",
            "o=1",
            "a.company_id = %(company)s",
            "a.file_number ASC, a.id ASC",
        ),
        (
            "status In Default, by balance desc",
            f"status={default}&sort=-current_balance",
            f"status__id__exact={default}&o=-7",
            f"a.company_id = %(company)s AND a.status_id = {default}",
            "a.current_balance DESC, a.id DESC",
        ),
        (
            "client + status Active or New, by balance desc",
            f"client={client}&status={active}&status={new}&sort=-current_balance",
            f"client__id__exact={client}&status__id__in={active},{new}&o=-7",
            f"a.company_id = %(company)s AND a.client_id = {client} "
            f"AND a.status_id IN ({active}, {new})",
            "a.current_balance DESC, a.id DESC",
        ),
        (
            "one collector's accounts over $1,000, by balance",
            f"assigned_to={collector}&balance_min=1000&sort=current_balance",
            f"assigned_to__id__exact={collector}&current_balance__gte=1000&o=7",
            f"a.company_id = %(company)s AND a.assigned_to_id = {collector} "
            "AND a.current_balance >= 1000",
            "a.current_balance ASC, a.id ASC",
        ),
        (
            "90+ days since default with a declined payment, by balance desc",
            "days_since_default_min=90&declined_min=1&sort=-current_balance",
            f"default_date__lte={cutoff.isoformat()}&declined_count__gte=1&o=-7",
            f"a.company_id = %(company)s AND a.default_date <= '{cutoff.isoformat()}' "
            "AND a.declined_count >= 1",
            "a.current_balance DESC, a.id DESC",
        ),
    ]


RAW_PAGE_SQL = """
SELECT a.id, a.file_number, a.account_number, a.current_balance,
       c.name, p.name, d.first_name, d.last_name, s.name, u.first_name, u.last_name
FROM accounts_account a
JOIN accounts_client c ON c.id = a.client_id
JOIN accounts_portfolio p ON p.id = a.portfolio_id
JOIN accounts_debtor d ON d.id = a.debtor_id
JOIN accounts_accountstatus s ON s.id = a.status_id
LEFT JOIN accounts_user u ON u.id = a.assigned_to_id
WHERE {where}
ORDER BY {order}
LIMIT 50
"""


def bench_grid(repeat: int) -> list[dict]:
    from django.db import connection
    from django.test import Client as HttpClient

    from accounts.models import User

    supervisor = User.objects.get(username="northwind.supervisor")
    admin_user = User.objects.get(username="northwind.admin")
    grid_client, admin_client = HttpClient(), HttpClient()
    grid_client.force_login(supervisor)
    admin_client.force_login(admin_user)
    results = []
    params = {"company": supervisor.company_id}
    for name, grid_query, admin_query, where, order in representative_filters():
        grid_url = f"/accounts/?{grid_query}"
        admin_url = f"/admin/accounts/account/?{admin_query}"

        def get_grid(url=grid_url):
            response = grid_client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        def get_admin(url=admin_url):
            response = admin_client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        def raw_sql(where=where, order=order):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM accounts_account a WHERE {where}", params)
                cursor.fetchone()
                cursor.execute(RAW_PAGE_SQL.format(where=where, order=order), params)
                cursor.fetchall()

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM accounts_account a WHERE {where}", params)
            matching = cursor.fetchone()[0]
        grid = percentiles(time_ms(get_grid, repeat))
        sql = percentiles(time_ms(raw_sql, repeat))
        admin = percentiles(time_ms(get_admin, repeat))
        results.append(
            {
                "filter": name,
                "matching_accounts": matching,
                "grid": grid,
                "raw_sql_count_and_page": sql,
                "django_admin_changelist": admin,
                "grid_vs_admin_ratio": round(grid["p50_ms"] / admin["p50_ms"], 2),
                "grid_vs_raw_sql_ratio": round(grid["p50_ms"] / sql["p50_ms"], 2),
            }
        )
    return results
