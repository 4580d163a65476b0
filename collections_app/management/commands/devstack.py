"""Run the whole application in the foreground: the web server, a real
Celery worker and Celery beat. Ctrl-C (or SIGTERM) stops all three.

This is what ``make run`` starts after migrating and seeding. With no
DATABASE_URL / REDIS_URL it runs on SQLite and Celery's filesystem broker;
with them, on PostgreSQL and Redis. Never eager mode: tasks really queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import demo_data

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Run web server, Celery worker and Celery beat together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args, host, port, concurrency, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        var_dir = Path(settings.VAR_DIR)
        python = sys.executable
        # Children inherit the environment, so they see the same database and broker.
        commands = {
            "web": [python, manage, "runserver", f"{host}:{port}", "--noreload", "--skip-checks"],
            "worker": [
                python, "-m", "celery", "-A", "collections_app", "worker",
                "--loglevel", "INFO", "--concurrency", str(concurrency),
                "--hostname", "worker@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "collections_app", "beat",
                "--loglevel", "INFO", "--schedule", str(var_dir / "celerybeat-schedule"),
                "--pidfile", "",
            ],
        }  # fmt: skip
        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)

        processes: dict[str, subprocess.Popen] = {}
        self.processes = processes
        try:
            for name, command in commands.items():
                # Own process group: a terminal's Ctrl-C reaches only us, and
                # we stop the children in order.
                processes[name] = subprocess.Popen(command, start_new_session=True)
            url = f"http://{host}:{port}/"
            self._wait_until_serving(url, processes)
            self._print_banner(url)
            exit_code = 0
            while not self.stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with code {process.returncode}; stopping."
                        )
                        self.stopping = True
                        exit_code = 1
                        break
                time.sleep(0.5)
        finally:
            self._stop_all(processes)
        if exit_code:
            raise SystemExit(exit_code)
        self.stdout.write("Stopped web server, worker and beat.")

    def _request_stop(self, signum, frame):
        self.stopping = True

    def _wait_until_serving(self, url: str, processes: dict[str, subprocess.Popen]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise CommandError(f"{name} exited with code {process.returncode} at start-up.")
            try:
                with urllib.request.urlopen(url + "health/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        if not self.stopping:
            raise CommandError(f"The web server did not answer at {url} within 60 s.")

    def _print_banner(self, url: str) -> None:
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = "Redis" if settings.REDIS_URL else "filesystem broker under var/"
        lines = [
            "",
            "=" * 64,
            f"  Collections back office is running at {url}",
            f"  Database: {database}   Celery: {broker}",
            f"  Demo logins (password for all: {demo_data.DEMO_PASSWORD}):",
        ]
        from accounts.models import User

        users = User.objects.filter(username__in=demo_data.PRINTED_LOGINS).select_related("company")
        for user in users.prefetch_related("groups").order_by("company__name", "username"):
            lines.append(f"    {user.username:<26} {user.role:<11} {user.company}")
        lines += ["  Press Ctrl-C to stop.", "=" * 64, ""]
        pids = ", ".join(f"{name} {p.pid}" for name, p in self.processes.items())
        lines.insert(-3, f"  Processes: {pids}")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        # Web first (no new work), then beat (no new schedules), then the
        # worker, which finishes or re-queues its current task (acks late).
        for name in ("web", "beat", "worker"):
            process = processes.get(name)
            if process and process.poll() is None:
                # The worker's main process only: it then lets its pool finish
                # the running task (a warm shutdown); its whole group would
                # kill the task mid-chunk.
                if name == "worker":
                    process.send_signal(signal.SIGTERM)
                else:
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
