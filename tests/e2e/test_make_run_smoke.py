"""End to end: the processes `make run` starts, on the embedded defaults
(SQLite + Celery's filesystem broker), serve the shell to a browser, run a
real Celery worker, and stop cleanly on SIGTERM. The stand-ins for the
providers start with them (a local SMTP catcher that prints what it
receives, a local Twilio), and the web server, worker and beat are pointed
at them."""

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from demo import DEMO_PASSWORD
from tests.e2e.a11y import assert_accessible

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _embedded_env(var_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_LOG_LEVEL")
        and not k.startswith(("EMAIL_", "TWILIO_", "ANYMAIL_"))
    }
    env.update(
        VAR_DIR=str(var_dir),
        HTTPS="false",
        DJANGO_SETTINGS_MODULE="collections_app.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def _health(base_url):
    with urllib.request.urlopen(base_url + "health/", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def running_stack(tmp_path):
    env = _embedded_env(tmp_path / "var")
    _manage(env, "migrate", "--noinput")
    seeded = _manage(env, "seed_demo", "--accounts", "60")
    assert "northwind.collector1" in seeded.stdout
    port = _free_port()
    log_path = tmp_path / "devstack.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed in teardown)
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "devstack",
            "--port",
            str(port),
            "--concurrency",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while "is running at" not in log_path.read_text():
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.3)
    try:
        yield {"process": process, "base_url": base_url, "env": env, "log": log_path}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        log.close()


def test_make_run_stack_serves_shell_runs_worker_and_stops(running_stack, page):
    base_url, env, log_path = running_stack["base_url"], running_stack["env"], running_stack["log"]
    banner = log_path.read_text()
    assert DEMO_PASSWORD in banner and "northwind.supervisor" in banner
    pids = {name: int(pid) for name, pid in re.findall(r"(web|worker|beat) (\d+)", banner)}
    assert set(pids) == {"web", "worker", "beat"}
    _check_stand_ins(banner, pids, base_url, log_path)

    # A real worker: a task queued through the broker gets executed.
    _manage(
        env, "shell", "-c", "from bulkops.tasks import record_heartbeat; record_heartbeat.delay()"
    )
    deadline = time.monotonic() + 45
    while _health(base_url)["worker"] != "ok":
        assert time.monotonic() < deadline, "the worker never ran the heartbeat task"
        time.sleep(0.5)

    # ... and does not say so: the worker and beat log at WARNING by default,
    # so routine tasks (beat sends the heartbeat every 15 s) stay out of the
    # console and the banner stays readable.
    for name in ("worker", "beat"):
        argv = Path(f"/proc/{pids[name]}/cmdline").read_bytes().split(b"\0")
        assert argv[argv.index(b"--loglevel") + 1] == b"WARNING", argv
    log = log_path.read_text()
    assert "record_heartbeat" not in log and "Sending due task" not in log, log

    # A person logs in through Chromium and sees the shell.
    page.goto(base_url)
    assert "/login/" in page.url
    page.get_by_label("Username").fill("northwind.supervisor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url)
    nav = page.get_by_role("navigation", name="Main")
    for section in ("Accounts", "Bulk operations", "Approvals", "Templates"):
        assert nav.get_by_text(section, exact=True).count() == 1
    assert page.get_by_test_id("accounts-count").inner_text().replace(",", "").isdigit()
    assert "running" in page.get_by_test_id("worker-status").inner_text()
    assert_accessible(page, "the home page (demo data)")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/login/"))

    # SIGTERM (what Ctrl-C's handler does) stops all three processes cleanly.
    process = running_stack["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log_path.read_text()
    assert "Stopped web server, worker and beat." in log_path.read_text()
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} ({pid}) still runs after stop"


def _process_environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _check_stand_ins(banner: str, pids: dict[str, int], base_url: str, log_path: Path) -> None:
    """The banner says where the stand-ins listen; the three processes are
    pointed at them; an email the catcher receives is printed in the console."""
    smtp_port = int(re.search(r"local SMTP catcher on 127\.0\.0\.1:(\d+)", banner)[1])
    twilio_url = re.search(r"local Twilio stand-in at (http://127\.0\.0\.1:\d+)", banner)[1]
    for name, pid in pids.items():
        env = _process_environment(pid)
        assert env["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend", name
        assert (env["EMAIL_HOST"], env["EMAIL_PORT"]) == ("127.0.0.1", str(smtp_port)), name
        assert env["TWILIO_API_BASE"] == twilio_url, name
        assert env["TWILIO_ACCOUNT_SID"] and env["TWILIO_AUTH_TOKEN"], name
        assert env["TWILIO_STATUS_CALLBACK_URL"] == base_url + "communications/twilio/status/"
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.sendmail(
            "collections@example.com",
            ["zoe@example.net"],
            b"From: collections@example.com\r\nTo: zoe@example.net\r\n"
            b"Subject: Smoke test\r\n\r\nPlease call us.\r\n",
        )
    deadline = time.monotonic() + 10
    while "Subject: Smoke test" not in (log := log_path.read_text()):
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert "To:      zoe@example.net" in log and "Please call us." in log


def _banner_pids(log_path: Path) -> dict[str, int]:
    banner = log_path.read_text()
    return {name: int(pid) for name, pid in re.findall(r"(web|worker|beat) (\d+)", banner)}


def _wait_for(log_path: Path, pattern: str, process, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    while not (match := re.search(pattern, log_path.read_text())):
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, f"no {pattern!r} in:\n{log_path.read_text()}"
        time.sleep(0.2)
    return match


def test_make_run_restarts_a_worker_that_dies_and_still_stops_cleanly(running_stack):
    process, base_url = running_stack["process"], running_stack["base_url"]
    env, log_path = running_stack["env"], running_stack["log"]
    pids = _banner_pids(log_path)

    # The worker's whole group (main process and pool), as the OOM killer might.
    os.killpg(pids["worker"], signal.SIGKILL)
    _wait_for(log_path, r"worker exited with code -9; restarting it in 1 s\.", process)
    new_pid = int(_wait_for(log_path, r"worker restarted \(pid (\d+)\)\.", process).group(1))
    assert new_pid != pids["worker"] and _alive(new_pid)
    assert all(_alive(pids[name]) for name in ("web", "beat"))

    # The stack still serves, and the new worker takes tasks from the broker:
    # with every heartbeat forgotten, only it can make the health check say so.
    _manage(
        env,
        "shell",
        "-c",
        "from bulkops.models import WorkerHeartbeat; WorkerHeartbeat.objects.all().delete(); "
        "from bulkops.tasks import record_heartbeat; record_heartbeat.delay()",
    )
    deadline = time.monotonic() + 45
    while _health(base_url)["worker"] != "ok":
        assert time.monotonic() < deadline, (
            f"the new worker never ran a task:\n{log_path.read_text()}"
        )
        time.sleep(0.5)

    # SIGTERM still stops all three cleanly, the new worker included.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log_path.read_text()
    assert "Stopped web server, worker and beat." in log_path.read_text()
    for name, pid in {**pids, "new worker": new_pid}.items():
        assert not _alive(pid), f"{name} ({pid}) still runs after stop"


def test_make_run_stops_everything_when_the_web_server_dies(running_stack):
    process, log_path = running_stack["process"], running_stack["log"]
    pids = _banner_pids(log_path)
    os.killpg(pids["web"], signal.SIGKILL)
    assert process.wait(timeout=30) == 1, log_path.read_text()
    assert "web exited with code -9; stopping." in log_path.read_text()
    assert "restarted" not in log_path.read_text()
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} ({pid}) still runs after the web server died"
