"""The production settings pass Django's deployment checks.

Each test runs Django in a subprocess with an environment built from scratch,
so nothing from the test run (settings_test sets HTTPS=false) leaks in.
"""

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({'DEBUG': settings.DEBUG, 'SECRET_KEY': settings.SECRET_KEY}))"
)


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """A production-like environment; an override of None removes the variable."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "collections_app.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "collections.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)


def loaded_settings(env: dict[str, str]) -> dict:
    result = run_python("-c", PRINT_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = production_env(tmp_path)
    assert len(env["SECRET_KEY"]) >= 50
    assert "HTTPS" not in env

    result = deploy_check(env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output, output


def test_settings_load_without_secret_key_using_an_embedded_one(tmp_path):
    var_dir = tmp_path / "var"
    env = production_env(tmp_path, SECRET_KEY=None, VAR_DIR=str(var_dir))
    assert not var_dir.exists()

    loaded = loaded_settings(env)

    key_file = var_dir / "secret_key"
    assert loaded["DEBUG"] is False
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert loaded["SECRET_KEY"] == key_file.read_text().strip()
    assert len(loaded["SECRET_KEY"]) >= 50
    # The key survives a restart, so sessions do too.
    assert loaded_settings(env)["SECRET_KEY"] == loaded["SECRET_KEY"]


def test_embedded_secret_key_passes_the_deploy_check(tmp_path):
    env = production_env(tmp_path, SECRET_KEY=None, VAR_DIR=str(tmp_path / "var"))

    result = deploy_check(env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output, output
