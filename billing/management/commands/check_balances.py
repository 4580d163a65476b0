"""List every account whose derived money fields disagree with the ledger
and payments, and every claim whose balance disagrees with its entries.
Exits 1 if any does, so it can guard a deploy or a nightly job."""

from django.core.management.base import BaseCommand

from billing.selectors import find_balance_discrepancies, find_claim_discrepancies


class Command(BaseCommand):
    help = "Check that account balances and last-payment fields reconcile with the ledger."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="Stop after this many accounts."
        )

    def handle(self, *args, limit=None, **options):
        problems = find_balance_discrepancies(limit=limit)
        for p in problems:
            self.stdout.write(
                f"account {p.file_number} (id {p.account_id}): {p.field} is {p.stored}, "
                f"ledger says {p.derived}"
            )
        claims = find_claim_discrepancies()[: limit or None]
        for pk, reference, stored, derived in claims:
            self.stdout.write(
                f"claim {reference} (id {pk}): balance is {stored}, ledger says {derived}"
            )
        if problems or claims:
            self.stderr.write(
                self.style.ERROR(
                    f"{len(problems)} account field(s) and {len(claims)} claim(s) do not reconcile."
                )
            )
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("All balances reconcile with the ledger."))
