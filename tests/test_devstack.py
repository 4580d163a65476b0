"""``make run``'s process list (``manage.py devstack``): the worker and beat
log at WARNING unless ``CELERY_LOG_LEVEL`` says otherwise, so the routine
tasks (heartbeat every 15 s, sweep every 30 s, hourly purge) stay out of the
console. tests/e2e/test_make_run_smoke.py runs the real stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management.base import CommandError

from collections_app.management.commands.devstack import celery_log_level, stack_commands


def commands(log_level: str) -> dict[str, list[str]]:
    return stack_commands(
        python="python",
        manage="manage.py",
        host="127.0.0.1",
        port=8000,
        concurrency=2,
        var_dir=Path("var"),
        log_level=log_level,
    )


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_worker_and_beat_log_at_warning_by_default():
    level = celery_log_level({})
    assert level == "WARNING"
    started = commands(level)
    for name in ("worker", "beat"):
        assert option(started[name], "--loglevel") == "WARNING", started[name]
        # Nor their start-up banners after the stack's own.
        assert "--quiet" in started[name][: started[name].index(name)], started[name]
    assert "--loglevel" not in started["web"]


@pytest.mark.parametrize(
    ("value", "level"),
    [("INFO", "INFO"), (" debug ", "DEBUG"), ("", "WARNING"), ("error", "ERROR")],
)
def test_the_level_comes_from_celery_log_level(value, level):
    assert celery_log_level({"CELERY_LOG_LEVEL": value}) == level


def test_at_info_the_worker_shows_its_tasks_and_banner_again():
    started = commands(celery_log_level({"CELERY_LOG_LEVEL": "info"}))
    for name in ("worker", "beat"):
        assert option(started[name], "--loglevel") == "INFO"
        assert "--quiet" not in started[name]


def test_an_unknown_level_is_one_clear_line():
    with pytest.raises(
        CommandError,
        match=r"CELERY_LOG_LEVEL='loud' is not a log level; use one of DEBUG, INFO, WARNING",
    ):
        celery_log_level({"CELERY_LOG_LEVEL": "loud"})


def test_the_worker_and_beat_otherwise_start_as_before():
    """The options the restart logic and the smoke test rely on are unchanged."""
    started = commands("WARNING")
    worker, beat = started["worker"], started["beat"]
    assert worker[:4] == ["python", "-m", "celery", "-A"] and "collections_app" in worker
    assert option(worker, "--concurrency") == "2"
    assert option(worker, "--hostname") == "worker@%h"
    assert option(beat, "--schedule") == str(Path("var") / "celerybeat-schedule")
    assert option(beat, "--pidfile") == ""
    assert started["web"] == [
        "python", "manage.py", "runserver", "127.0.0.1:8000", "--noreload", "--skip-checks",
    ]  # fmt: skip
