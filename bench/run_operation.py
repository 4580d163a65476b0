"""A worker process for ``make bench``: starts Django, says "ready", then runs
the operation whose id it reads on stdin to the end (what a worker does) and
prints its final state and this process's peak memory in MB.

Started before the clock, as a deployed worker is already running when an
operation is confirmed: its start-up (about half a second) is not part of
any operation's time."""

import os
import resource
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
    import django

    django.setup()
    from bulkops.services import run_operation

    print("ready", flush=True)
    operation_id = int(sys.stdin.readline())
    state = run_operation(operation_id)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{state} {peak_mb:.1f}", flush=True)


if __name__ == "__main__":
    main()
