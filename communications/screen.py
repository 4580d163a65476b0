"""The gate's set-based screen, on PostgreSQL: one statement for a whole
batch of messages reads what every rule reads and decides, in the
database, what can be decided per message; the rules themselves decide
only the few messages that count against each other near a limit.

For a batch, the rules' own look-ups (``prefetch``) and their Python cost
about as much as reading the messages does. The screen instead returns one
row a message with what the rules would read of it, already judged where
SQL can judge it:

- the contact point (``gate.point_decision``): the first made of the
  debtor's addresses equal to it (upper case, as the rule compares) or the
  number, and whether it is invalid, opted out of or not consented to;
- the legal stops (``contact_rules.stop_decision``): do not contact, the
  account's first legal stop in force;
- the time of day (``contact_rules._time_of_day``): the zone inputs (the
  zone set on the debtor, ZIP code, state, the number whose area code
  counts) and the preferred hours unless Ignore Contact Preferences;
  decided here once per set of candidate zones and hours;
- ``rules``: the message must be decided by the rules, because the
  frequency rules count a batch's messages against each other and this
  one's could reach a limit (the weekly cap of the debtor's channel, or the
  calls about the account), or because its address is one SQL and Python
  might compare differently.

The Python functions that decide are the rules' own, applied in the rules'
order (contact point, legal stops, time of day), so a message decided here
is decided as the rules decide it. The frequency rules cannot object to a
message the screen decides: it flags every message of a debtor's channel
(weekly caps) or of an account's calls (call frequency) when all of the
batch's messages of it, with those already sent, could reach the limit;
then all of them go to the rules together, in the batch's order, and the
others cannot reach it whatever the rules decide about those.

Addresses are compared in upper case on both sides: PostgreSQL's
``upper()`` and Python's ``str.upper()`` agree on ASCII and on the Latin
letters of ``_SAFE_RANGES``, one character for one (checked against the
database once per process: where they do not agree, only ASCII is
trusted). A message to an address with any other character, or to a
debtor who has one, goes to the rules.
``tests/communications/test_gate_screen.py`` holds the screen's decisions
against the rules' on varied batches.

Lists go to PostgreSQL as array literals in one string each: psycopg2
adapts a Python list element by element, which for a batch of 1,000
messages took longer than the statement itself.

The gate asks for it (``gate.register_screen``) only while the rules it
covers are exactly the ones registered; SQLite has no screen."""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterable, Sequence

from django.db import connections

from accounts.timezones import number_zone_key
from communications.contact_rules import (
    CALLS_PER_WEEK,
    WEEK,
    _time_of_day,
    candidate_zones,
    stop_decision,
)
from communications.gate import Decision, Point, point_decision, register_screen
from communications.models import Message

COVERS = ("contact_point", "legal_stops", "time_of_day", "call_frequency", "weekly_cap")

# Characters whose upper case is one character, the same in Python and in
# PostgreSQL (ß, ŉ and ſ are left out: Python's upper case of each differs).
_SAFE_RANGES = ((0x20, 0x7E), (0xC0, 0xD6), (0xD8, 0xDE), (0xE0, 0xF6), (0xF8, 0xFE),
                (0x100, 0x148), (0x14A, 0x17E))  # fmt: skip
_ASCII_RANGES = ((0x20, 0x7E),)

# What a contact point's trouble is called below, and the point the rule reads for it.
_POINTS = {
    "missing": None,
    "invalid": Point(invalid=True, consent=True, opted_out=False),
    "opted_out": Point(invalid=False, consent=True, opted_out=True),
    "no_consent": Point(invalid=False, consent=False, opted_out=False),
}

_SCREEN_SQL = """
WITH batch AS (
    SELECT m.i - 1 AS i, m.account_id, m.debtor_id, m.company_id, m.channel, m.recipient,
           m.ignore_prefs
    FROM unnest(%(account)s::bigint[], %(debtor)s::bigint[], %(company)s::bigint[],
                %(channel)s::text[], %(recipient)s::text[], %(ignore)s::bool[]) WITH ORDINALITY
         AS m(account_id, debtor_id, company_id, channel, recipient, ignore_prefs, i)
), counted AS (
    SELECT b.*,
           -- The batch's messages counting against the same weekly cap,
           -- and the batch's calls about the same debt.
           count(*) FILTER (WHERE NOT b.ignore_prefs)
               OVER (PARTITION BY b.company_id, b.debtor_id, b.channel) AS batch_capped,
           count(*) FILTER (WHERE b.channel = 'voice')
               OVER (PARTITION BY b.account_id) AS batch_calls
    FROM batch b
)
SELECT c.i,
       -- The rules decide: a frequency limit within reach, or an address
       -- SQL and Python might compare differently.
       (
           (c.channel = 'email' AND (c.recipient !~ %(safe)s OR email.odd))
           OR (cap.per_week IS NOT NULL AND NOT c.ignore_prefs AND (
               cap.per_week = 0 OR c.batch_capped + (
                   SELECT count(*) FROM communications_message s
                   JOIN accounts_account sa ON sa.id = s.account_id
                   WHERE sa.debtor_id = c.debtor_id AND s.company_id = c.company_id
                     AND s.channel = c.channel
                     AND s.sent_at > %(week_ago)s AND s.sent_at <= %(now)s
               ) > cap.per_week))
           OR (c.channel = 'voice' AND (
                   EXISTS (SELECT 1 FROM communications_conversation v
                           WHERE v.account_id = c.account_id
                             AND v.at > %(week_ago)s AND v.at <= %(now)s)
                   OR c.batch_calls + (
                       SELECT count(*) FROM communications_message s
                       WHERE s.account_id = c.account_id AND s.channel = 'voice'
                         AND s.sent_at > %(now)s
                             - make_interval(hours => 24 * greatest(7, calls.days))
                         AND s.sent_at <= %(now)s
                   ) > least(%(calls_per_week)s, calls.max_calls)))
       ) AS rules,
       -- contact_point, in the rule's order. ``point.code``: the first
       -- made of the matching addresses or numbers, as id * 8 + its flags
       -- (invalid 4, opted out 2, consent 1): min() picks it without a sort.
       CASE WHEN point.code IS NULL THEN 'missing'
            WHEN point.code & 4 = 4 THEN 'invalid'
            WHEN point.code & 2 = 2 THEN 'opted_out'
            WHEN point.code & 1 = 0 THEN 'no_consent'
       END AS point,
       -- legal_stops.
       coalesce(pref.do_not_contact, false) AS do_not_contact,
       CASE WHEN EXISTS (SELECT 1 FROM communications_legalstop s
                         WHERE s.account_id = c.account_id AND s.ended_at IS NULL)
            THEN (SELECT s.kind FROM communications_legalstop s
                  WHERE s.account_id = c.account_id AND s.ended_at IS NULL
                  ORDER BY s.created_at, s.id LIMIT 1)
       END AS stop,
       -- time_of_day: the preferred hours, the zones' inputs (an email's
       -- number is its debtor's primary phone).
       CASE WHEN NOT c.ignore_prefs AND pref.preferred_to IS NOT NULL
            THEN pref.preferred_from END AS preferred_from,
       CASE WHEN NOT c.ignore_prefs AND pref.preferred_from IS NOT NULL
            THEN pref.preferred_to END AS preferred_to,
       d.timezone, d.postal_code, d.state,
       CASE WHEN c.channel = 'email' THEN coalesce(primary_phone.number, '')
            ELSE c.recipient END AS zone_number
FROM counted c
JOIN accounts_debtor d ON d.id = c.debtor_id
LEFT JOIN LATERAL (
    -- An email's zones count its debtor's primary phone's area code.
    SELECT p.number FROM accounts_debtorphone p
    WHERE c.channel = 'email' AND p.debtor_id = c.debtor_id AND p.is_primary LIMIT 1
) primary_phone ON true
LEFT JOIN LATERAL (
    -- One row at most (one a debtor); LIMIT keeps it an index look-up a message.
    SELECT pr.do_not_contact, pr.preferred_from, pr.preferred_to
    FROM communications_contactpreference pr WHERE pr.debtor_id = c.debtor_id LIMIT 1
) pref ON true
LEFT JOIN LATERAL (
    SELECT CASE c.channel WHEN 'email' THEN pol.max_emails_per_week
                          WHEN 'sms' THEN pol.max_texts_per_week END AS per_week
    FROM communications_contactpolicy pol WHERE pol.company_id = c.company_id
) cap ON true
LEFT JOIN LATERAL (
    -- The debtor's addresses equal to it (upper case, as the rule compares);
    -- ``odd``: the debtor has one outside the safe letters.
    SELECT bool_or(e.address !~ %(safe)s) AS odd,
           min(e.id * 8 + (e.validity = 'invalid')::int * 4 + e.email_opted_out::int * 2
               + e.email_consent::int) FILTER (WHERE upper(e.address) = upper(c.recipient))
               AS code
    FROM accounts_debtoremail e
    WHERE c.channel = 'email' AND e.debtor_id = c.debtor_id
) email ON true
LEFT JOIN LATERAL (
    -- The debtor's numbers equal to it, with the channel's consent and opt-out.
    SELECT min(p.id * 8 + (p.validity = 'invalid')::int * 4 + CASE c.channel
               WHEN 'sms' THEN p.sms_opted_out::int * 2 + p.sms_consent::int
               ELSE p.voice_opted_out::int * 2 + p.voice_consent::int END) AS code
    FROM accounts_debtorphone p
    WHERE c.channel <> 'email' AND p.debtor_id = c.debtor_id AND p.number = c.recipient
) phone ON true
CROSS JOIN LATERAL (SELECT coalesce(email.code, phone.code) AS code) point
LEFT JOIN LATERAL (
    SELECT min(l.max_calls) AS max_calls, max(l.days) AS days
    FROM communications_statecalllimit l
    WHERE c.channel = 'voice' AND l.state = d.state
      AND (l.company_id = c.company_id OR l.company_id IS NULL)
) calls ON true
"""


# The statement is prepared once per database connection (PREPARE is a
# session's, and outlives a rolled-back transaction): planning it took a
# third of its time for a batch of 50. Not for a pooler in transaction mode
# (PgBouncer's default), which may hand the session to another client.
_STATEMENT = "communications_gate_screen"
_PARAMETERS = {
    "account": "bigint[]",
    "debtor": "bigint[]",
    "company": "bigint[]",
    "channel": "text[]",
    "recipient": "text[]",
    "ignore": "bool[]",
    "now": "timestamptz",
    "week_ago": "timestamptz",
    "calls_per_week": "int",
    "safe": "text",
}
_PREPARED: weakref.WeakSet = weakref.WeakSet()  # the driver's connections that have it


def _prepare_sql() -> str:
    sql = _SCREEN_SQL
    for n, name in enumerate(_PARAMETERS, 1):
        sql = sql.replace(f"%({name})s", f"${n}")
    return f"PREPARE {_STATEMENT} ({', '.join(_PARAMETERS.values())}) AS {sql}"


def _execute(connection, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        raw = connection.connection
        if raw not in _PREPARED:
            cursor.execute(_prepare_sql())
            _PREPARED.add(raw)
        cursor.execute(
            f"EXECUTE {_STATEMENT} ({', '.join(f'%({name})s' for name in _PARAMETERS)})",
            params,
        )
        return cursor.fetchall()


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(chr(first) + ("-" + chr(last) if last > first else "") for first, last in ranges)


_SAFE_PATTERN: dict[str, str] = {}  # database alias: the regular expression of safe addresses


def _safe_pattern(connection) -> str:
    """``^[...]*$`` of the characters whose upper case this database and
    Python agree on (asked once per process and database)."""
    pattern = _SAFE_PATTERN.get(connection.alias)
    if pattern is None:
        letters = "".join(chr(c) for first, last in _SAFE_RANGES for c in range(first, last + 1))
        with connection.cursor() as cursor:
            cursor.execute("SELECT upper(%s)", [letters])
            [(upper,)] = cursor.fetchall()
        ranges = _SAFE_RANGES if upper == letters.upper() else _ASCII_RANGES
        pattern = _SAFE_PATTERN[connection.alias] = "^[" + _class(ranges) + "]*$"
    return pattern


def _array(values: Iterable) -> str:
    """A PostgreSQL array literal of numbers or booleans."""
    return "{" + ",".join(map(str, values)) + "}"


def _text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of strings, each quoted (and its quotes
    and backslashes escaped, when it has any)."""
    values = list(values)
    joined = '","'.join(values)
    if '"' in joined or "\\" in joined:
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + joined + '"}' if values else "{}"


def screen(
    messages: Sequence[Message], now: dt.datetime
) -> tuple[list[int], dict[int, Decision]] | None:
    """(the positions of the messages the rules must decide, {position:
    decision} for the others); None where there is no screen (SQLite)."""
    connection = connections[Message.objects.db]
    if connection.vendor != "postgresql":
        return None
    params = {
        "account": _array(m.account_id for m in messages),
        "debtor": _array(m.account.debtor_id for m in messages),
        "company": _array(m.company_id for m in messages),
        "channel": _text_array(m.channel for m in messages),
        "recipient": _text_array(m.to for m in messages),
        "ignore": _array("t" if m.ignore_contact_preferences else "f" for m in messages),
        "now": now,
        "week_ago": now - WEEK,
        "calls_per_week": CALLS_PER_WEEK,
        "safe": _safe_pattern(connection),
    }
    rows = _execute(connection, params)
    decided: dict[int, Decision] = {}
    flagged: list[int] = []
    zones_by_key: dict[tuple[str, str, str, str], frozenset[str]] = {}
    by_zones: dict = {}
    for i, rules, point, do_not_contact, stop, start, end, zone, postal_code, state, number in rows:
        if rules:
            flagged.append(i)
            continue
        if point is not None:
            decided[i] = point_decision(messages[i], _POINTS[point])
            continue
        if do_not_contact or stop:
            decided[i] = stop_decision(do_not_contact, stop)
            continue
        # Debtors of one town share their candidate zones: found once.
        zone_key = (zone, postal_code, state, number_zone_key(number))
        zones = zones_by_key.get(zone_key)
        if zones is None:
            zones = zones_by_key[zone_key] = candidate_zones(
                debtor_zone=zone, postal_code=postal_code, state=state, number=number
            )
        preferred = (start, end) if start is not None else None
        decision = by_zones.get((zones, preferred))
        if decision is None:
            decision = by_zones[zones, preferred] = _final(_time_of_day(zones, preferred, now))
        decided[i] = decision
    if len(decided) + len(flagged) < len(messages):
        # A message whose debtor is gone: the rules say what becomes of it.
        flagged = sorted(set(range(len(messages))) - decided.keys())
    else:
        flagged.sort()
    return flagged, decided


def _final(decision: Decision) -> Decision:
    """The gate's answer when the time of day has the last say: an allowed
    message is sent by the end of its window."""
    if decision.action == "send":
        return Decision("send", until=decision.until)
    return decision


register_screen(screen, covers=COVERS)
