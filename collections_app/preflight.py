"""Start-up check: ``python -m collections_app.preflight``, which ``make run``
runs before anything loads the Django settings.

A configuration mistake gets one line on stderr saying what to fix, never a
traceback: a malformed DATABASE_URL or REDIS_URL (exit 2), a PostgreSQL or
Redis that cannot be reached or refuses the login (exit 1). A PostgreSQL
database that does not exist yet is created: on a fresh server, the one the
README's example names does not. Nothing is printed when all is well, one
line when a database was created. Passwords are never printed.

The settings parse DATABASE_URL through ``database_config`` too, so a
malformed URL raises ImproperlyConfigured with the same sentence when Django
is started some other way.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT_SECONDS = 5
POSTGRES_ENGINE = "django.db.backends.postgresql"
SQLITE_ENGINE = "django.db.backends.sqlite3"
POSTGRES_EXAMPLE = "postgres://USER:PASSWORD@127.0.0.1:5432/collections"
REDIS_EXAMPLE = "redis://127.0.0.1:6379/0"
# PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1 bytes).
POSTGRES_MAX_NAME_BYTES = 63
# Keys of a PostgreSQL URL's query string that Django reads itself rather
# than passing to libpq.
DJANGO_ONLY_OPTIONS = {"isolation_level", "server_side_binding", "pool", "assume_role"}


class Problem(Exception):
    """A configuration mistake, explained in one sentence."""

    exit_code = 1


class MalformedURL(Problem, ImproperlyConfigured):
    exit_code = 2


def masked(url: str) -> str:
    """The URL with its password replaced by ****, even when it does not parse.

    Everything between the first colon of the credentials and the last @ is
    the password as far as we can tell, so a password holding an unencoded
    @ / ? or # is still hidden (possibly with more than the password)."""
    scheme, separator, rest = url.partition("://")
    prefix = scheme + separator if separator else ""
    if not separator:
        rest = url
    credentials, at, address = rest.rpartition("@")
    if not at:
        return url
    user, colon, _password = credentials.partition(":")
    return f"{prefix}{user}{':****' if colon else ''}@{address}"


def _unencoded_password(url: str) -> bool:
    """Whether a / ? or # in the credentials cut the host part short, so the
    password would be read as a host, port or database name."""
    rest = url.partition("://")[2]
    return "@" in rest and "@" not in urlsplit(url).netloc


def _bad_port(shown: str, example: str) -> MalformedURL:
    return MalformedURL(
        f"{shown} has a port that is not a number from 1 to 65535: use e.g. {example}."
    )


# --- DATABASE_URL ----------------------------------------------------------------


def database_url(env: environ.Env, var_dir: Path) -> str:
    """DATABASE_URL, or the embedded SQLite file under VAR_DIR when it is unset or empty."""
    return env.str("DATABASE_URL", default="") or f"sqlite:///{var_dir / 'db.sqlite3'}"


def database_config(url: str) -> dict:
    """Django's DATABASES entry for the URL, parsed by django-environ; a URL
    the app cannot run on raises MalformedURL saying what is wrong."""
    shown = f'DATABASE_URL "{masked(url)}"'
    if _unencoded_password(url):
        raise MalformedURL(
            f"{shown} does not parse: a / ? or # in the password must be "
            f"percent-encoded (%2F, %3F, %23), e.g. {POSTGRES_EXAMPLE}."
        )
    try:
        with warnings.catch_warnings():
            # It warns about URLs it cannot read; the sentences below say more.
            warnings.simplefilter("ignore")
            config = environ.Env.db_url_config(url)
    except ValueError:
        # urllib's "Port could not be cast to integer" or "out of range".
        raise _bad_port(shown, POSTGRES_EXAMPLE) from None
    engine = config.get("ENGINE")
    # Without "//" urllib reads "postgres:PASSWORD@host/db" as a path, which
    # would become the database name.
    if not engine or "://" not in url:
        raise MalformedURL(
            f"{shown} is not a database URL (it does not start with a scheme such as "
            f"postgres://): use e.g. {POSTGRES_EXAMPLE}, or leave DATABASE_URL unset for "
            f"SQLite under var/."
        )
    if engine not in (POSTGRES_ENGINE, SQLITE_ENGINE):
        scheme = url.partition(":")[0]
        # The app speaks PostgreSQL (COPY, = ANY) and SQLite (json_each) only.
        raise MalformedURL(
            f'{shown} has the scheme "{scheme}", but the app runs on PostgreSQL or SQLite: '
            f"use e.g. {POSTGRES_EXAMPLE} or sqlite:////absolute/path/db.sqlite3."
        )
    if engine == POSTGRES_ENGINE:
        if config.get("PORT") == 0:
            raise _bad_port(shown, POSTGRES_EXAMPLE)
        name = config.get("NAME") or ""
        if not name:
            raise MalformedURL(
                f"{shown} names no database: add its name after the last slash, "
                f"e.g. {masked(url).split('?')[0].rstrip('/')}/collections."
            )
        if len(name.encode()) > POSTGRES_MAX_NAME_BYTES:
            raise MalformedURL(
                f'{shown} names the database "{name}", longer than PostgreSQL\'s '
                f"{POSTGRES_MAX_NAME_BYTES} bytes: use a shorter name."
            )
    return config


def _where(config: dict) -> str:
    host, port = config.get("HOST") or "", config.get("PORT") or 5432
    if not host:
        return f"the local Unix socket (port {port})"
    if host.startswith("/"):
        return f"the Unix socket in {host} (port {port})"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _libpq_reason(error: Exception) -> str:
    """libpq's own reason, e.g. "Connection refused", from its first line."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    reason = lines[0].partition(" failed: ")[2] or lines[0]
    return reason.removeprefix("FATAL:").strip()


# libpq's client-side reasons: nothing answered as a PostgreSQL server.
_UNREACHABLE = re.compile(
    r"connection refused|timeout expired|timed out|could not translate host name"
    r"|no such file or directory|network is unreachable|no route to host",
    re.IGNORECASE,
)
_LOGIN = re.compile(r"password|authentication|role .* does not exist", re.IGNORECASE)


def _connect(config: dict, dbname: str):
    import psycopg2

    options = {
        key: value
        for key, value in (config.get("OPTIONS") or {}).items()
        if key not in DJANGO_ONLY_OPTIONS
    }
    options.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    try:
        return psycopg2.connect(
            dbname=dbname,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            **options,
        )
    except psycopg2.ProgrammingError as error:
        # libpq refuses an option of the URL's query string before connecting.
        raise MalformedURL(
            f"DATABASE_URL has an option PostgreSQL does not understand "
            f"({_libpq_reason(error)}): fix the query string after the ?."
        ) from None


def _connection_problem(config: dict, error: Exception) -> Problem:
    where, reason = _where(config), _libpq_reason(error)
    if _UNREACHABLE.search(reason):
        return Problem(
            f"Cannot reach PostgreSQL at {where} ({reason}): start PostgreSQL, "
            f"or fix the host and port in DATABASE_URL."
        )
    if _LOGIN.search(reason):
        user = config.get("USER") or "(none)"
        return Problem(
            f'PostgreSQL at {where} refused the user "{user}" ({reason}): '
            f"fix the user and password in DATABASE_URL, or create that role."
        )
    return Problem(
        f"PostgreSQL at {where} refused the connection ({reason}): "
        f"fix DATABASE_URL, or the server's settings."
    )


def ensure_database(config: dict) -> bool:
    """Create the PostgreSQL database the config names when the server is up
    and it does not exist yet; True when it was created. Raises Problem when
    the server cannot be reached or refuses us."""
    import psycopg2
    from psycopg2 import errors, sql

    name = config["NAME"]
    # The application database first: a user that may not connect to the
    # maintenance database (managed hosting) is fine as long as its own exists.
    try:
        _connect(config, name).close()
        return False
    except psycopg2.OperationalError as error:
        first_error = error
        if _UNREACHABLE.search(_libpq_reason(error)):
            # No server there: a second attempt would only wait as long again.
            raise _connection_problem(config, error) from None
    try:
        admin = _connect(config, "postgres")
    except psycopg2.OperationalError as error:
        raise _connection_problem(config, error) from None
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is not None:
                # It exists, so the first connection failed for another reason.
                raise _connection_problem(config, first_error)
            try:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except (errors.DuplicateDatabase, errors.UniqueViolation):
                return False  # another process created it in the meantime
            except errors.InsufficientPrivilege as error:
                user = config.get("USER") or "(none)"
                raise Problem(
                    f'User "{user}" may not create the database "{name}" on {_where(config)} '
                    f"({_libpq_reason(error)}): create it as a superuser "
                    f"(createdb -O {user} {name}), or grant the user CREATEDB."
                ) from None
    finally:
        admin.close()
    return True


def check_database(url: str, var_dir: Path) -> str | None:
    """Check (and on PostgreSQL create) the database; a line to print, or None."""
    config = database_config(url)
    if config["ENGINE"] == SQLITE_ENGINE:
        name = config["NAME"]
        if name == ":memory:":
            raise MalformedURL(
                f'DATABASE_URL "{masked(url)}" names an in-memory SQLite database, which the '
                f"web server and the worker cannot share: use sqlite:////absolute/path/db.sqlite3."
            )
        directory = Path(name).parent.resolve()
        # The settings create VAR_DIR; any other directory must already exist.
        if directory != var_dir.resolve() and not directory.is_dir():
            raise Problem(
                f'DATABASE_URL "{masked(url)}" puts the SQLite file in {directory}, which does '
                f"not exist: create that directory, or fix the path."
            )
        return None
    if ensure_database(config):
        return f'Database "{config["NAME"]}" created on {_where(config)}.'
    return None


# --- REDIS_URL -------------------------------------------------------------------


def check_redis(url: str) -> None:
    """Ping the Redis that Celery and the cache will use; raises Problem."""
    shown = f'REDIS_URL "{masked(url)}"'
    if _unencoded_password(url):
        raise MalformedURL(
            f"{shown} does not parse: a / ? or # in the password must be "
            f"percent-encoded (%2F, %3F, %23), e.g. redis://:PASSWORD@127.0.0.1:6379/0."
        )
    parts = urlsplit(url)
    # Celery's broker and Django's Redis cache both understand only these.
    if parts.scheme not in ("redis", "rediss"):
        raise MalformedURL(
            f"{shown} is not a Redis URL (it must start with redis:// or rediss://): "
            f"use e.g. {REDIS_EXAMPLE}, or unset REDIS_URL for the filesystem broker."
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise _bad_port(shown, REDIS_EXAMPLE)
    database = parts.path.strip("/")
    if database and not database.isdigit():
        # redis-py would quietly use database 0 and Celery would refuse it.
        raise MalformedURL(
            f'{shown} names the database "{database}", which is not a number: '
            f"use e.g. {REDIS_EXAMPLE}."
        )

    import redis

    host = parts.hostname or "localhost"
    where = f"[{host}]:{port or 6379}" if ":" in host else f"{host}:{port or 6379}"
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except ValueError as error:
        # An option in the query string redis-py cannot read.
        raise MalformedURL(f"{shown} does not parse ({error}): use e.g. {REDIS_EXAMPLE}.") from None
    try:
        client.ping()
    except redis.AuthenticationError as error:
        raise Problem(
            f"Redis at {where} refused the login ({str(error).rstrip('.')}): "
            f"fix the user and password in REDIS_URL."
        ) from None
    except (redis.ConnectionError, redis.TimeoutError) as error:
        # "Error 111 connecting to host:port. Connection refused." -> the reason.
        reason = re.sub(r"^Error -?\d+ connecting to \S+\. ", "", str(error)).rstrip(".")
        raise Problem(
            f"Cannot reach Redis at {where} ({reason}): start Redis, fix REDIS_URL, "
            f"or unset it to use the filesystem broker."
        ) from None
    except redis.ResponseError as error:
        raise Problem(
            f"Redis at {where} refused database {database or 0} ({error}): "
            f"use a database number the server has (0 to 15 unless configured otherwise)."
        ) from None
    finally:
        client.close()


# --- Entry point -----------------------------------------------------------------


def main() -> int:
    """Run every check; print one line per problem on stderr; the exit code."""
    env = environ.Env()
    var_dir = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
    problems: list[Problem] = []
    try:
        created = check_database(database_url(env, var_dir), var_dir)
    except Problem as problem:
        problems.append(problem)
    else:
        if created:
            print(created)
    redis_url = env.str("REDIS_URL", default="")
    if redis_url:
        try:
            check_redis(redis_url)
        except Problem as problem:
            problems.append(problem)
    for problem in problems:
        print(problem, file=sys.stderr)
    return max((problem.exit_code for problem in problems), default=0)


if __name__ == "__main__":
    sys.exit(main())
