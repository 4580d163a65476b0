"""`python -m collections_app.preflight`, the start-up check `make run` runs
first: it creates a missing PostgreSQL database, and a configuration mistake
(a malformed URL, a server that cannot be reached) is one line on stderr
saying what to fix, never a traceback and never a password.

Each check runs the module in a subprocess with an environment built from
scratch, as `make run` would on a fresh machine. The PostgreSQL and Redis
tests use the machine's servers on 127.0.0.1 and are skipped without them.
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import environ
import psycopg2
import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from collections_app.preflight import database_config
from tests.test_deploy_settings import run_python

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "connect_timeout": 3}
SECRET = f"s3cret-{uuid.uuid4().hex[:8]}"


def preflight_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.update(variables)
    return env


def preflight(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    return run_python("-m", "collections_app.preflight", env=preflight_env(tmp_path, **variables))


def one_line(result: subprocess.CompletedProcess, exit_code: int) -> str:
    """The single line the check printed on stderr for one mistake."""
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    assert "Traceback" not in output, output
    assert SECRET not in output, output
    assert result.stdout == "", output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, output
    return lines[0]


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_oid(name: str) -> int | None:
    """The database's oid, None when it does not exist (a new oid = created again)."""
    connection = psycopg2.connect(dbname="postgres", **POSTGRES)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid FROM pg_database WHERE datname = %s", [name])
            row = cursor.fetchone()
    finally:
        connection.close()
    return row[0] if row else None


@pytest.fixture(scope="module")
def postgres():
    if shutil.which("pg_isready"):
        ready = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False, timeout=10)
        if ready.returncode != 0:
            pytest.skip("no PostgreSQL on 127.0.0.1 (pg_isready)")
    try:
        psycopg2.connect(dbname="postgres", **POSTGRES).close()
    except psycopg2.Error as error:
        pytest.skip(f"cannot connect to postgres@127.0.0.1:5432: {error}")


@pytest.fixture
def missing_database(postgres):
    name = f"test_preflight_{uuid.uuid4().hex}"
    assert postgres_oid(name) is None
    yield name
    connection = psycopg2.connect(dbname="postgres", **POSTGRES)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    connection.close()


@pytest.fixture(scope="module")
def redis_server():
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis on 127.0.0.1:6379: {error}")


# --- The embedded defaults ---------------------------------------------------------


def test_sqlite_default_has_nothing_to_do(tmp_path):
    result = preflight(tmp_path)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    # The settings create VAR_DIR; the check only reads the configuration.
    assert not (tmp_path / "var").exists()


def test_sqlite_file_in_a_missing_directory(tmp_path):
    url = f"sqlite:///{tmp_path / 'nowhere' / 'db.sqlite3'}"

    line = one_line(preflight(tmp_path, DATABASE_URL=url), exit_code=1)

    assert str(tmp_path / "nowhere") in line and "does not exist" in line


# --- PostgreSQL ----------------------------------------------------------------------


def test_a_missing_database_is_created_once(tmp_path, missing_database):
    url = f"postgres://postgres@127.0.0.1:5432/{missing_database}"

    first = preflight(tmp_path, DATABASE_URL=url)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert first.stdout == f'Database "{missing_database}" created on 127.0.0.1:5432.\n'
    oid = postgres_oid(missing_database)
    assert oid is not None

    second = preflight(tmp_path, DATABASE_URL=url)

    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert postgres_oid(missing_database) == oid
    # What failed with a traceback before (`database "..." does not exist`)
    # now finds its database.
    plan = run_python(
        "manage.py", "migrate", "--plan", env=preflight_env(tmp_path, DATABASE_URL=url)
    )
    assert plan.returncode == 0, plan.stderr
    assert "Traceback" not in plan.stderr


def test_an_unreachable_server_names_host_and_port(tmp_path):
    port = free_port()
    url = f"postgres://postgres:{SECRET}@127.0.0.1:{port}/collections"

    line = one_line(preflight(tmp_path, DATABASE_URL=url), exit_code=1)

    assert f"127.0.0.1:{port}" in line
    assert "start PostgreSQL" in line and "DATABASE_URL" in line


def test_a_role_that_does_not_exist(tmp_path, postgres):
    user = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgres://{user}:{SECRET}@127.0.0.1:5432/collections"

    line = one_line(preflight(tmp_path, DATABASE_URL=url), exit_code=1)

    assert "127.0.0.1:5432" in line and f'"{user}"' in line
    assert "user and password in DATABASE_URL" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgres://postgres:{SECRET}@127.0.0.1:notaport/collections", "port"),
        (f"postgres://postgres:{SECRET}@127.0.0.1:70000/collections", "port"),
        (f"postgres://postgres:{SECRET}@127.0.0.1:5432/", "names no database"),
        (f"postgres://postgres:{SECRET}@127.0.0.1:5432", "names no database"),
        (f"postgress://postgres:{SECRET}@127.0.0.1:5432/collections", '"postgress"'),
        (f"mysql://root:{SECRET}@127.0.0.1/collections", "PostgreSQL or SQLite"),
        (f"postgres:{SECRET}@127.0.0.1/collections", "scheme such as"),
        ("collections", "scheme such as"),
        (f"postgres://postgres:{SECRET}/x@127.0.0.1:5432/collections", "percent-encoded"),
        (f"postgres://postgres:{SECRET}#x@127.0.0.1:5432/collections", "percent-encoded"),
        ("sqlite://", "in-memory"),
    ],
)
def test_a_malformed_database_url_is_one_line(tmp_path, url, says):
    line = one_line(preflight(tmp_path, DATABASE_URL=url), exit_code=2)

    assert line.startswith("DATABASE_URL "), line
    assert says in line
    # Every sentence shows what a correct URL looks like.
    assert re.search(r"(postgres|sqlite):///?\S", line), line


def test_the_settings_refuse_a_malformed_url_with_the_same_sentence(tmp_path):
    url = f"postgres://postgres:{SECRET}@127.0.0.1:notaport/collections"
    env = preflight_env(
        tmp_path, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="collections_app.settings"
    )

    result = run_python("-c", "import django; django.setup()", env=env)

    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    sentence = one_line(preflight(tmp_path, DATABASE_URL=url), exit_code=2)
    assert result.stderr.splitlines()[-1].endswith(": " + sentence)
    with pytest.raises(ImproperlyConfigured, match="not a number"):
        database_config(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@127.0.0.1:5432/collections",
        "postgresql://user:p%40ss@db.example.com/collections?sslmode=require",
        "sqlite:////tmp/collections.sqlite3",
    ],
)
def test_the_settings_parse_a_good_url_as_django_environ_does(url):
    assert database_config(url) == environ.Env.db_url_config(url)


# --- Redis ------------------------------------------------------------------------------


def test_redis_that_is_down_is_one_line(tmp_path):
    port = free_port()

    result = preflight(tmp_path, REDIS_URL=f"redis://:{SECRET}@127.0.0.1:{port}/0")

    line = one_line(result, exit_code=1)
    assert f"127.0.0.1:{port}" in line
    assert "start Redis" in line and "REDIS_URL" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"http://:{SECRET}@127.0.0.1:6379/0", "redis://"),
        ("127.0.0.1:6379", "redis://"),
        (f"redis://:{SECRET}@127.0.0.1:port/0", "port"),
        ("redis://127.0.0.1:6379/cache", '"cache"'),
    ],
)
def test_a_malformed_redis_url_is_one_line(tmp_path, url, says):
    line = one_line(preflight(tmp_path, REDIS_URL=url), exit_code=2)

    assert line.startswith("REDIS_URL "), line
    assert says in line


def test_a_reachable_redis_is_fine(tmp_path, redis_server):
    result = preflight(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_every_mistake_gets_its_own_line(tmp_path):
    database_port, redis_port = free_port(), free_port()

    result = preflight(
        tmp_path,
        DATABASE_URL=f"postgres://postgres:{SECRET}@127.0.0.1:{database_port}/collections",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and SECRET not in result.stderr
    first, second = result.stderr.splitlines()
    assert "PostgreSQL" in first and f":{database_port}" in first
    assert "Redis" in second and f":{redis_port}" in second


# --- make run ---------------------------------------------------------------------------


def make_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target, each split as the shell would."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{target}\s*:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        # @ (silent), - (ignore errors) and + prefix a recipe line for make only.
        recipe.append(shlex.split(line.strip().lstrip("@-+")))
    return recipe


def test_make_run_checks_the_configuration_before_migrating():
    commands = make_recipe("run")

    def position(*words: str) -> int:
        return next(i for i, argv in enumerate(commands) if all(w in argv for w in words))

    assert position("-m", "collections_app.preflight") == 0
    assert position("-m", "collections_app.preflight") < position("manage.py", "migrate")
    assert (ROOT / "collections_app" / "preflight.py").is_file()
