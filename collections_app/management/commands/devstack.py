"""Run the whole application in the foreground: the web server, a real
Celery worker and Celery beat. Ctrl-C (or SIGTERM) stops all three.

This is what ``make run`` starts after migrating and seeding. With no
DATABASE_URL / REDIS_URL it runs on SQLite and Celery's filesystem broker;
with them, on PostgreSQL and Redis. Never eager mode: tasks really queue.

A worker or beat that dies is started again, as docker-compose's ``restart:
unless-stopped`` does, after a pause that doubles while it keeps dying; a
web server that exits stops everything (the app is unusable without it).

Unless the user configured their own, email goes to a local SMTP catcher
that prints each message here, and SMS and calls to a local Twilio stand-in
that reports their delivery back to the web server's status webhook
(``collections_app.devservers.standins``).

The worker and beat log at WARNING (``CELERY_LOG_LEVEL`` sets another
level): at INFO they log every routine task they send and run (the
heartbeat every 15 s, the sweep every 30 s, the hourly purge), which
buries the banner with the URL and the logins. Warnings and errors (a task
that failed, a lost broker, the app's own warnings) still show.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import demo as demo_data
from collections_app.devservers.standins import StandIns, reachable_url

STOP_GRACE_SECONDS = 15
# Pause before restarting a dead worker or beat: 1 s, doubling to 30 s while
# it dies again soon after each start; back to 1 s once it ran this long.
RESTART_DELAY_SECONDS = 1.0
RESTART_DELAY_MAX_SECONDS = 30.0
RESTART_STABLE_SECONDS = 60.0
RESTARTED = ("worker", "beat")

CELERY_LOG_LEVEL_VARIABLE = "CELERY_LOG_LEVEL"
DEFAULT_CELERY_LOG_LEVEL = "WARNING"
CELERY_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def celery_log_level(environ=os.environ) -> str:
    """The worker's and beat's log level: ``CELERY_LOG_LEVEL``, else WARNING."""
    level = environ.get(CELERY_LOG_LEVEL_VARIABLE, "").strip().upper() or DEFAULT_CELERY_LOG_LEVEL
    if level not in CELERY_LOG_LEVELS:
        raise CommandError(
            f"{CELERY_LOG_LEVEL_VARIABLE}={environ[CELERY_LOG_LEVEL_VARIABLE]!r} is not a log "
            f"level; use one of {', '.join(CELERY_LOG_LEVELS)}."
        )
    return level


def stack_commands(
    *,
    python: str,
    manage: str,
    host: str,
    port: int,
    concurrency: int,
    var_dir: Path,
    log_level: str,
) -> dict[str, list[str]]:
    """The three processes ``make run`` starts. At WARNING and above the
    worker and beat also leave out their start-up banners (``--quiet``): the
    stack's own, printed once the web server answers, is the one to read."""
    celery = [python, "-m", "celery", "-A", "collections_app"]
    if log_level not in ("DEBUG", "INFO"):
        celery.append("--quiet")
    return {
        "web": [python, manage, "runserver", f"{host}:{port}", "--noreload", "--skip-checks"],
        "worker": [
            *celery, "worker",
            "--loglevel", log_level, "--concurrency", str(concurrency),
            "--hostname", "worker@%h",
        ],
        "beat": [
            *celery, "beat",
            "--loglevel", log_level, "--schedule", str(var_dir / "celerybeat-schedule"),
            "--pidfile", "",
        ],
    }  # fmt: skip


class Command(BaseCommand):
    help = "Run web server, Celery worker and Celery beat together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args, host, port, concurrency, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        var_dir = Path(settings.VAR_DIR)
        # Children inherit the environment, so they see the same database and broker.
        commands = stack_commands(
            python=sys.executable,
            manage=manage,
            host=host,
            port=port,
            concurrency=concurrency,
            var_dir=var_dir,
            log_level=celery_log_level(),
        )
        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)

        processes: dict[str, subprocess.Popen] = {}
        self.processes = processes
        self._output_lock = threading.Lock()
        self.stand_ins = StandIns(os.environ, web_url=reachable_url(host, port), write=self._say)
        try:
            # The children inherit the environment, the stand-ins' settings too.
            os.environ.update(self.stand_ins.start())
            for name, command in commands.items():
                processes[name] = self._spawn(command)
            url = f"http://{host}:{port}/"
            self._wait_until_serving(url, processes)
            self._print_banner(url)
            exit_code = self._supervise(commands, processes)
        finally:
            self._stop_all(processes)
            self.stand_ins.stop()
        if exit_code:
            raise SystemExit(exit_code)
        self.stdout.write("Stopped web server, worker and beat.")

    def _request_stop(self, signum, frame):
        self.stopping = True

    def _say(self, text: str) -> None:
        """Write ``text`` to the console from any thread (the stand-ins')."""
        with self._output_lock:
            self.stdout.write(text)
            self.stdout.flush()

    @staticmethod
    def _spawn(command: list[str]) -> subprocess.Popen:
        # Own process group: a terminal's Ctrl-C reaches only us, and we stop
        # the children in order.
        return subprocess.Popen(command, start_new_session=True)

    def _supervise(self, commands: dict, processes: dict[str, subprocess.Popen]) -> int:
        """Until asked to stop: restart a worker or beat that exited, with a
        growing pause; return 1 if the web server exits."""
        now = time.monotonic()
        started = dict.fromkeys(processes, now)
        delay = dict.fromkeys(RESTARTED, RESTART_DELAY_SECONDS)
        restart_at: dict[str, float] = {}
        while not self.stopping:
            now = time.monotonic()
            for name, process in processes.items():
                if name in restart_at or process.poll() is None:
                    continue
                if name not in RESTARTED:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping.")
                    return 1
                # What is left of its group (a worker's pool child) has nobody
                # to answer to any more; a chunk it was in rolls back.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                if now - started[name] >= RESTART_STABLE_SECONDS:
                    delay[name] = RESTART_DELAY_SECONDS
                self.stderr.write(
                    f"{name} exited with code {process.returncode}; "
                    f"restarting it in {delay[name]:g} s."
                )
                restart_at[name] = now + delay[name]
                delay[name] = min(delay[name] * 2, RESTART_DELAY_MAX_SECONDS)
            for name, when in list(restart_at.items()):
                if now >= when and not self.stopping:
                    del restart_at[name]
                    processes[name] = self._spawn(commands[name])
                    started[name] = time.monotonic()
                    self.stdout.write(f"{name} restarted (pid {processes[name].pid}).")
                    self.stdout.flush()
            time.sleep(0.2)
        return 0

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
        lines += self.stand_ins.lines
        lines += ["  Press Ctrl-C to stop.", "=" * 64, ""]
        pids = ", ".join(f"{name} {p.pid}" for name, p in self.processes.items())
        lines.insert(-3, f"  Processes: {pids}")
        self._say("\n".join(lines))

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
