"""``make bench``'s contact rules: the gate over a batch of emails to every
account (the one Schedule Emails queues), with every rule on and with the
gate disabled, in the same run.

The batch is read as the dispatch reads it: due messages, oldest first, in
pages of the dispatch's batch size, each page loaded with its accounts and
offices (``select_related``). "Disabled" asks a gate with no rule (every
message may go); "on" asks it with every registered rule (the contact
point, do not contact and legal stops, the time of day in every candidate
zone, call frequency, weekly caps). Nothing is sent or moved, so both
see the same rows; the ratio is the gate's cost over the least a dispatch
does with a page. The two take turns page by page (each reading the page
itself): one pass after the other put minutes between them, and this
machine's speed drifts over minutes by more than the gate costs. The
decisions are counted per rule.

The data gets what the rules look up, set-based and removed afterwards: a
legal stop on one account in a hundred, do not contact for one debtor in two
hundred, preferred hours (10:00 to 17:00) for one in twenty, and weekly caps
for every company; the moment decided for is 13:00 in New York today, so
that most messages may go and the preferred hours hold some back."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from zoneinfo import ZoneInfo

from bench.communications import (
    BASELINE_COLUMNS,
    NO_LIMIT,
    OfficeLimits,
    _baseline_select,
    _bench_template,
    _email_rows,
    _queue,
    _refuse_other_due_messages,
    _remove_bench_messages,
    _send,
    _states,
)
from bench.harness import operator, vacuum
from bench.loopback import LoopbackServer

TARGET_RATIO = 1.3
NOTE = "bench contact rules"


def _rule_data(cursor, user_id: int) -> None:
    cursor.execute(
        """
        INSERT INTO communications_legalstop
            (account_id, kind, since, source, note, created_at, created_by_id)
        SELECT id, 'attorney', current_date, 'Letter', %s, now(), %s
        FROM accounts_account WHERE id %% 100 = 7
        """,
        [NOTE, user_id],
    )
    cursor.execute(
        """
        INSERT INTO communications_contactpreference
            (debtor_id, do_not_contact, do_not_contact_source, preferred_from, preferred_to,
             updated_at, updated_by_id)
        SELECT id, id %% 200 = 3, %s,
               CASE WHEN id %% 20 = 1 THEN time '10:00' END,
               CASE WHEN id %% 20 = 1 THEN time '17:00' END, now(), %s
        FROM accounts_debtor WHERE id %% 200 = 3 OR id %% 20 = 1
        ON CONFLICT (debtor_id) DO NOTHING
        """,
        [NOTE, user_id],
    )
    cursor.execute(
        """
        INSERT INTO communications_contactpolicy
            (company_id, max_emails_per_week, max_texts_per_week, help_text)
        SELECT id, 3, 2, 'Reply STOP to opt out.' FROM accounts_company
        ON CONFLICT (company_id) DO NOTHING
        """
    )


def _remove_rule_data(cursor) -> None:
    cursor.execute("DELETE FROM communications_legalstop WHERE note = %s", [NOTE])
    cursor.execute(
        "DELETE FROM communications_contactpreference WHERE do_not_contact_source = %s", [NOTE]
    )
    cursor.execute("DELETE FROM communications_contactpolicy WHERE help_text = %s", [
        "Reply STOP to opt out."
    ])  # fmt: skip


def _read(after: int, last_id: int, page: int):
    from communications.models import Message

    return list(
        Message.objects.select_related("account__office")
        .filter(pk__gt=after, pk__lte=last_id)
        .order_by("pk")[:page]
    )


def _passes(rules, first_id: int, last_id: int, page: int, now) -> tuple[float, float, Counter]:
    """Read the batch page by page and ask the gate about each page twice:
    with no rule and with ``rules``, each time reading the page afresh, in
    turns (the first of the two alternates page by page), so that the
    machine's drift over minutes weighs on both alike: (seconds with no
    rule, seconds with the rules, decisions per (action, rule))."""
    from communications import gate

    decided: Counter = Counter()
    seconds = {"disabled": 0.0, "rules": 0.0}
    saved = gate._RULES[:]
    try:
        after, turn = first_id - 1, 0
        while True:
            last_read = None
            order = ("disabled", "rules") if turn % 2 == 0 else ("rules", "disabled")
            for name in order:
                gate._RULES[:] = [] if name == "disabled" else rules
                started = time.perf_counter()
                messages = _read(after, last_id, page)
                decisions = gate.preview(messages, now=now) if messages else []
                seconds[name] += time.perf_counter() - started
                if name == "rules":
                    for decision in decisions:
                        decided[decision.action, decision.rule] += 1
                last_read = messages
            if not last_read:
                break
            after, turn = last_read[-1].pk, turn + 1
        return seconds["disabled"], seconds["rules"], decided
    finally:
        gate._RULES[:] = saved


def bench_contact_rules(pages: tuple[int, ...] | None = None) -> dict:
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from communications import gate
    from communications.models import Message

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the batch is queued with INSERT ... SELECT)."}
    # The dispatch's batch, and the pages a check of many messages reads.
    pages = pages or (settings.MESSAGE_DISPATCH_BATCH, 1000)
    _remove_bench_messages()
    user = operator()
    _template, version = _bench_template()
    select_sql, params = _baseline_select(version, timezone.now(), user.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO communications_message ({BASELINE_COLUMNS}) {select_sql}", params
        )
        _remove_rule_data(cursor)  # an interrupted run's
        _rule_data(cursor, user.pk)
    vacuum(
        "communications_message",
        "communications_legalstop",
        "communications_contactpreference",
        "communications_contactpolicy",
    )
    ids = Message.objects.filter(created_by=user)
    first_id = ids.order_by("pk").values_list("pk", flat=True).first()
    last_id = ids.order_by("-pk").values_list("pk", flat=True).first()
    count = ids.count()
    now = dt.datetime.combine(timezone.localdate(), dt.time(13), ZoneInfo("America/New_York"))
    every_rule = gate._RULES[:]
    report: dict = {
        "messages": count,
        "rules": [name for name, *_ in every_rule],
        "decided_for": now.isoformat(),
        "by_page": {},
    }
    try:
        # A pass first, untimed: the rows and the tables in the cache.
        _passes(every_rule, first_id, last_id, pages[-1], now)
        for page in pages:
            disabled_seconds, rules_seconds, decided = _passes(
                every_rule, first_id, last_id, page, now
            )
            report["by_page"][str(page)] = {
                "gate_disabled_seconds": round(disabled_seconds, 1),
                "every_rule_seconds": round(rules_seconds, 1),
                "rules_vs_disabled": round(rules_seconds / disabled_seconds, 2),
                "messages_per_second_every_rule": round(count / rules_seconds),
            }
        report["decisions"] = {
            f"{action}:{rule or '-'}": n for (action, rule), n in sorted(decided.items())
        }
    finally:
        _remove_bench_messages()
        with transaction.atomic(), connection.cursor() as cursor:
            _remove_rule_data(cursor)
    report["target_ratio_at_most"] = TARGET_RATIO
    return report


def bench_gated_dispatch(count: int) -> dict:
    """The batch as it is sent: ``count`` of its emails (the email dispatch
    part's, to aiosmtpd on loopback, one worker), once through a gate with
    no rule and once through every rule, the same rows queued afresh each
    time, with the rules' data above. The moment is the run's own: run it
    in the United States' daytime, or the time of day holds most of them
    (the part reports what the rules did)."""
    from django.db import connection, transaction

    from accounts.models import Office

    _remove_bench_messages()
    _refuse_other_due_messages()
    user = operator()
    rows = _email_rows(count)
    runs = {}
    with (
        OfficeLimits(dict.fromkeys(Office.objects.values_list("pk", flat=True), NO_LIMIT)),
        LoopbackServer("smtp") as server,
    ):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                _remove_rule_data(cursor)
                _rule_data(cursor, user.pk)
            for name, gate_setting in (("gate_disabled", "off"), ("every_rule", "on")):
                first_id, last_id = _queue(rows)
                vacuum("communications_message")
                env = {
                    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                    "EMAIL_HOST": "127.0.0.1",
                    "EMAIL_PORT": server.address,
                    "EMAIL_USE_TLS": "false",
                    "TWILIO_ACCOUNT_SID": "",
                    "BENCH_GATE": gate_setting,
                    "BENCH_UNTIL_DUE": "1",
                }
                sent = _send(env, first_id, last_id)
                runs[name] = {
                    "seconds": round(sent["seconds"], 1),
                    "received_by_server": server.stats()["received"],
                    "final_states": _states(first_id, last_id),
                    "worker_cpu_seconds": sent["cpu_seconds"],
                }
                server.reset()
                _remove_bench_messages()
        finally:
            _remove_bench_messages()
            with transaction.atomic(), connection.cursor() as cursor:
                _remove_rule_data(cursor)
    # The rules suppress some (legal stops, do not contact), which are then
    # not sent: the time per email received is compared too.
    disabled, rules = runs["gate_disabled"], runs["every_rule"]
    per_email = {
        name: run["seconds"] / run["received_by_server"]
        for name, run in runs.items()
        if run["received_by_server"]
    }
    return {
        "emails": count,
        **runs,
        "rules_vs_disabled": round(rules["seconds"] / disabled["seconds"], 2),
        "rules_vs_disabled_per_email_received": round(
            per_email["every_rule"] / per_email["gate_disabled"], 2
        )
        if len(per_email) == 2
        else None,
        "target_ratio_at_most": TARGET_RATIO,
    }
