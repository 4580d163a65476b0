"""A sending worker for ``make bench``: starts Django (its email and Twilio
settings come from the environment ``bench.communications`` gives it), says
"ready", then reads a line ``FIRST_ID LAST_ID`` and calls
``communications.dispatch.send_due_messages`` (what the beat task
``communications.send_due_messages`` calls) again and again until none of the
messages with ids in that range is queued or held any more, pausing 50 ms
whenever nothing was taken (held messages wait for their next minute), or
until nothing has been taken for two minutes (a rule of the gate deferring
them for longer: it says "stalled" then, and the bench reports their states).
Prints one JSON line: its seconds (wall and CPU), the messages taken, the
calls, and this process's peak memory (``bench.run_operation.peak_memory_mb``).

With ``BENCH_PROFILE=path`` in its environment the sending runs under
cProfile and the statistics are written to ``path``. With ``BENCH_GATE=off``
the gate has no rule (every message may go: the contact rules' baseline),
and with ``BENCH_UNTIL_DUE=1`` a message held until a later moment (a
rule's deferral) no longer counts as waiting: the worker stops once every
message due now is sent or suppressed."""

import cProfile
import json
import os
import resource
import sys
import time

from django.utils import timezone

from bench.run_operation import peak_memory_mb

IDLE_PAUSE_SECONDS = 0.05
STALL_SECONDS = 120  # longer than a message over the limit waits for its minute


def send_until_done(first_id: int, last_id: int) -> dict:
    from communications import dispatch
    from communications.models import Message, MessageState

    until_due = os.environ.get("BENCH_UNTIL_DUE") == "1"

    def waiting() -> bool:
        pending = Message.objects.filter(
            pk__gte=first_id, pk__lte=last_id, state__in=[MessageState.QUEUED, MessageState.HELD]
        )
        if until_due:
            pending = pending.exclude(state=MessageState.HELD, send_after__gt=timezone.now())
        return pending.exists()

    taken = calls = 0
    stalled = False
    cpu_before = _cpu_seconds()
    started = last_taken = time.perf_counter()
    while True:
        sent_now = dispatch.send_due_messages()
        calls += 1
        taken += sent_now
        if sent_now:
            last_taken = time.perf_counter()
            continue
        if not waiting():
            break
        if time.perf_counter() - last_taken > STALL_SECONDS:
            stalled = True
            break
        time.sleep(IDLE_PAUSE_SECONDS)
    return {
        "seconds": time.perf_counter() - started,
        "stalled": stalled,
        "cpu_seconds": _cpu_seconds() - cpu_before,
        "taken": taken,
        "calls": calls,
    }


def _cpu_seconds() -> float:
    """This process's own CPU time (user and system): what the sending cost
    here, against the wall time spent waiting for the database and the
    provider."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
    import django

    django.setup()
    from communications import dispatch, gate  # noqa: F401 (imported before the clock)

    if os.environ.get("BENCH_GATE") == "off":
        gate._RULES.clear()

    print("ready", flush=True)
    first_id, last_id = map(int, sys.stdin.readline().split())
    profile_path = os.environ.get("BENCH_PROFILE")
    if profile_path:
        profiler = cProfile.Profile()
        result = profiler.runcall(send_until_done, first_id, last_id)
        profiler.dump_stats(profile_path)
    else:
        result = send_until_done(first_id, last_id)
    result["peak_memory_mb"] = round(peak_memory_mb(), 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
