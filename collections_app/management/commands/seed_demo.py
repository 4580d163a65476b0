"""Seed realistic, reproducible demo data; prints the demo logins."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

import demo


class Command(BaseCommand):
    help = "Create demo companies, users, configuration and N accounts with their history."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts", type=int, default=3000, help="How many accounts (default 3000)."
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed into a database that already has data: DELETES all accounts, users "
            "and configuration first.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database already holds data.",
        )

    def handle(self, *args, accounts, seed, force, if_empty, **options):
        if accounts < 0:
            raise CommandError("--accounts must be zero or more.")
        if demo.is_seeded():
            if if_empty:
                self.stdout.write("Demo data already present; not seeding again.")
                self._print_logins()
                return
            if not force:
                raise CommandError(
                    "This database already holds data; refusing to seed twice. "
                    "Use --force to delete everything and seed again."
                )
            self.stdout.write("Deleting existing data (--force)...")
            demo.wipe()
        started = time.monotonic()
        self.stdout.write(f"Seeding {accounts:,} accounts on {connection.vendor} (seed {seed})...")
        demo.load(accounts, seed=seed, progress=self.stdout.write)
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Seeded {accounts:,} accounts in {elapsed:.1f} s."))
        self._print_logins()

    def _print_logins(self):
        from accounts.models import User

        users = (
            User.objects.filter(username__in=demo.PRINTED_LOGINS)
            .select_related("company")
            .prefetch_related("groups")
            .order_by("company__name", "username")
        )
        if not users:
            return
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {demo.DEMO_PASSWORD}):")
        for user in users:
            self.stdout.write(f"  {user.username:<28} {user.role:<11} {user.company}")
