"""``make bench``: performance figures as JSON, never assertions.

Seeds the benchmark database when it holds fewer accounts than asked, then
measures, in one run and on the same data, one area after another (each in
its module, on the shared ``bench.harness``):

* ``grid``: the accounts grid page against hand-written SQL and the Django
  admin (``bench.grid``), and "select all, exclude 3, count" through the
  Selection object (``bench.selection``);
* ``bulk``: Change Status To on every account against hand-written SQL
  (``bench.bulk``);
* ``export``: CSV and .xlsx of every account against PostgreSQL's COPY
  (``bench.export``);
* ``audit``: the audit log page at 5,000,000 events, unfiltered and
  filtered, against hand-written SQL (``bench.audit``);
* ``billing``: Write Off Balances on every account against hand-written SQL
  (``bench.write_off``), Add Fees' verification and fee operation on every
  account against hand-written SQL (``bench.add_fees``), and the preview of a 2,000-line bulk write-off file
  through its upload view against a hand-written SELECT and INSERT
  (``bench.write_off_file``);
* ``account_page``: the Account Details and Diary tabs of an account with
  5,000 Diary events, against the Diary's page by hand-written SQL, and
  the Journal tab of one with 20,000 entries against its page by
  hand-written SQL, with the memory of its CSV of 100,000
  (``bench.account_page``);
* ``communications``: Schedule Emails to every account against a
  hand-written INSERT ... SELECT, the dispatch of queued emails to a
  loopback SMTP server against a bare smtplib loop, and of SMS to the
  loopback Twilio server under the office's per-minute limit and without it,
  against a bare requests loop (``bench.communications``);
* ``undo_mass_edit``: the Undo of Change Status To on every account against
  hand-written SQL putting the statuses back with their audit
  (``bench.undo``), and a Mass Edit of every account with four sections
  ticked (Stage, File Type, a custom field, Mass Add Alert) against
  hand-written SQL making the same changes, alerts and audit rows
  (``bench.mass_edit``).

Usage: python -m bench [--accounts N] [--repeat R] [--reseed] [--only AREA] [--output PATH]
       [--emails N] [--sms N] [--sms-per-minute N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

from bench import (
    account_page,
    add_fees,
    audit,
    bulk,
    communications,
    contact_rules,
    export,
    grid,
    mass_edit,
    selection,
    undo,
    write_off,
    write_off_file,
)
from bench.harness import ROOT, ensure_seeded, server_settings, setup_django, vacuum

# Each area (what ``--only`` names), in the order they run, and its parts:
# (report key, how to measure it, given the arguments).
AREAS = {
    "grid": [
        ("grid", lambda args: grid.bench_grid(args.repeat)),
        ("select_all_count", lambda args: selection.bench_select_all(args.repeat)),
    ],
    "bulk": [("change_status_all_accounts", lambda args: bulk.bench_change_status())],
    "export": [("export_all_accounts", lambda args: export.bench_export())],
    "audit": [("audit_log", lambda args: audit.bench_audit_log(args.repeat, args.audit_events))],
    "communications": [
        ("schedule_emails_all_accounts", lambda args: communications.bench_schedule_emails()),
        (
            "email_dispatch",
            lambda args: communications.bench_email_dispatch(_sizes(args)["emails"]),
        ),
        (
            "sms_dispatch",
            lambda args: communications.bench_sms_dispatch(
                _sizes(args)["sms"], _sizes(args)["sms_per_minute"]
            ),
        ),
    ],
    "billing": [
        ("write_off_all_accounts", lambda args: write_off.bench_write_off_all()),
        ("add_fees_all_accounts", lambda args: add_fees.bench_add_fees()),
        (
            "write_off_file_preview",
            lambda args: write_off_file.bench_write_off_file_preview(args.repeat),
        ),
    ],
    "account_page": [
        ("account_page_5000_events", lambda args: account_page.bench_account_page(args.repeat)),
        ("journal", lambda args: account_page.bench_journal(args.repeat)),
    ],
    "contact_rules": [
        ("gate_all_accounts", lambda args: contact_rules.bench_contact_rules()),
        (
            "gated_email_dispatch",
            lambda args: contact_rules.bench_gated_dispatch(_sizes(args)["emails"]),
        ),
    ],
    "undo_mass_edit": [
        ("undo_change_status_all_accounts", lambda args: undo.bench_undo_change_status()),
        ("mass_edit_four_sections_all_accounts", lambda args: mass_edit.bench_mass_edit()),
    ],
}


def _sizes(args) -> dict:
    """The messages the communications area sends (scaled with --accounts
    unless given)."""
    return communications.sizes(args.accounts, args.emails, args.sms, args.sms_per_minute)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reseed", action="store_true", help="Seed again even if seeded.")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--only", choices=list(AREAS), help="Run one part (default: everything).")
    parser.add_argument("--audit-events", type=int, default=audit.EVENTS)
    parser.add_argument(
        "--emails",
        type=int,
        help=f"Emails to dispatch (default {communications.EMAILS:,} at 1,000,000 accounts, "
        "in proportion below).",
    )
    parser.add_argument(
        "--sms",
        type=int,
        help=f"SMS to dispatch (default {communications.SMS:,} at 1,000,000 accounts, "
        "in proportion below).",
    )
    parser.add_argument(
        "--sms-per-minute",
        type=int,
        help=f"The office's limit for them (default {communications.SMS_PER_MINUTE:,} "
        "at 1,000,000 accounts, in proportion below).",
    )
    args = parser.parse_args(argv)

    setup_django()
    from django.db import connection

    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "machine": {"cpus": os.cpu_count()},
        "database_settings": server_settings(),
        "seed": ensure_seeded(args.accounts, args.reseed),
    }
    for name, parts in AREAS.items():
        if args.only not in (None, name):
            continue
        # Every area starts from vacuumed tables with fresh statistics, as
        # autovacuum keeps them in production (an earlier run's restored or
        # deleted rows would otherwise cost index-only scans their heap visits;
        # the bulk area restores a million statuses before the export).
        vacuum()
        for key, measure in parts:
            report[key] = measure(args)
    text = json.dumps(report, indent=2)
    print(text)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")


if __name__ == "__main__":
    main()
