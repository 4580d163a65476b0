"""The architecture's rules, as tests: the import contracts in
pyproject.toml hold (lint-imports, also run by ``make lint``), and the
engine (bulkops) names no action of the apps that plug into it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_import_contracts_are_kept():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


@pytest.mark.django_db
def test_the_engine_names_no_action():
    from bulkops.registry import all_actions

    keys = {action.key for action in all_actions()}
    engine_files = [
        *ROOT.glob("bulkops/*.py"),
        *ROOT.glob("bulkops/services/*.py"),
        *ROOT.glob("templates/bulkops/*.html"),
        ROOT / "static/js/bulk.js",
    ]
    named = []
    for path in engine_files:
        text = path.read_text()
        for key in keys:
            if re.search(rf"""["']{re.escape(key)}["']""", text):
                named.append((path.relative_to(ROOT), key))
        if re.search(r"(action\.key|operation\.kind)\s*==", text):
            named.append((path.relative_to(ROOT), "compares an action's key"))
    assert named == []
