"""Run one bulk operation to the end in this process (what a worker does),
then print this process's peak memory in MB. Used by ``make bench``."""

import os
import resource
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
    import django

    django.setup()
    from bulkops.services import run_operation

    state = run_operation(int(sys.argv[1]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{state} {peak_mb:.1f}")


if __name__ == "__main__":
    main()
