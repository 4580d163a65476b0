"""The bench's worker reports its own peak memory, not its parent's.

Linux carries a parent's peak resident memory across fork and exec into the
child's ru_maxrss, so a worker started by a large bench process seemed as
large as that process. The parent here touches 256 MB before starting a
child that does nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PARENT = """
import subprocess, sys
big = bytearray(256 * 1024 * 1024)
for i in range(0, len(big), 4096):
    big[i] = 1
child = "from bench.run_operation import peak_memory_mb; print(peak_memory_mb())"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_worker_reports_its_own_peak_memory():
    result = subprocess.run(
        [sys.executable, "-c", PARENT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    peak_mb = float(result.stdout)
    assert 1 < peak_mb < 100, peak_mb
