"""A worker process for ``make bench``: starts Django, says "ready", then runs
the operation whose id it reads on stdin to the end (what a worker does) and
prints its final state and this process's peak memory in MB.

Started before the clock, as a deployed worker is already running when an
operation is confirmed: its start-up (about half a second) is not part of
any operation's time."""

import os
import resource
import sys


def peak_memory_mb() -> float:
    """This process's own peak resident memory. Not ru_maxrss: Linux carries
    the parent's peak across fork and exec into it, so a worker started by a
    bench process that had just seeded a million accounts reported that
    process's 301 MB. VmHWM belongs to the memory of the program now running."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
    import django

    django.setup()
    from bulkops.services import run_operation

    print("ready", flush=True)
    operation_id = int(sys.stdin.readline())
    state = run_operation(operation_id)
    peak_mb = peak_memory_mb()
    print(f"{state} {peak_mb:.1f}", flush=True)


if __name__ == "__main__":
    main()
