"""The container setup (Dockerfile, .dockerignore, docker-compose.yml) is consistent.

No Docker engine is needed: the files are parsed, and whatever they name
(WSGI target, Celery app, management commands, files to copy, URLs to probe)
is looked up in the project itself.
"""

import fnmatch
import functools
import json
import re
import shlex
import tomllib
import warnings
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import environ
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

EXPECTED_SERVICES = {"postgres", "redis", "clamav", "web", "worker", "beat"}
APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
HEALTHCHECKED_SERVICES = ("postgres", "redis", "web", "worker")


# --- docker-compose.yml ----------------------------------------------------------


@functools.cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def service(name: str) -> dict:
    return services()[name]


def image_services() -> list[str]:
    """Services that run the project's own image (they have a build section)."""
    return [name for name, spec in services().items() if "build" in spec]


class MissingVariable(Exception):
    """A ${NAME:?message} variable compose would refuse to start without."""


_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, variables: dict[str, str] | None = None) -> str:
    """Resolve compose ${NAME}, ${NAME:-default} and ${NAME:?error} as compose would."""
    variables = variables or {}

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = variables.get(name)
        is_set = current is not None and (current != "" or not (op or "").startswith(":"))
        if is_set:
            return current
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        if op and op.endswith("-"):
            return arg
        return ""

    return _VARIABLE.sub(replace, str(value))


def environment(name: str) -> dict[str, str]:
    """A service's environment as a mapping, whether written as a list or a map."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def depends_on(name: str) -> dict[str, str]:
    """Dependency name -> condition (the short list form means service_started)."""
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {dep: (spec or {}).get("condition", "service_started") for dep, spec in raw.items()}


def healthcheck_argv(name: str) -> list[str]:
    """The healthcheck test as an argv (CMD-SHELL strings are split like a shell would)."""
    test = service(name)["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    kind, *rest = test
    if kind == "CMD-SHELL":
        return shlex.split(" ".join(rest))
    return rest


def command(name: str) -> list[str]:
    """The argv a service runs: its command, or the image's CMD if it has none."""
    raw = service(name).get("command")
    if raw is None:
        return dockerfile_cmd()
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def named_volumes(name: str) -> list[str]:
    """Volume names a service mounts (bind mounts, which start with . / or ~, excluded)."""
    return list(volume_mounts(name).values())


def volume_mounts(name: str) -> dict[str, str]:
    """Container path -> named volume, for the named volumes a service mounts."""
    mounts = {}
    for mount in service(name).get("volumes") or []:
        if isinstance(mount, dict):
            if mount.get("type") == "volume" and mount.get("source"):
                mounts[mount["target"]] = mount["source"]
            continue
        source, _, rest = mount.partition(":")
        if rest and not source.startswith((".", "/", "~", "$")):
            mounts[rest.split(":", 1)[0]] = source
    return mounts


def container_ports(name: str) -> list[int]:
    """The container side of each published port."""
    ports = []
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


# --- Dockerfile and .dockerignore ------------------------------------------------------


@functools.cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return tuple(instructions)


def dockerfile_args(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def dockerfile_cmd() -> list[str]:
    (*_, cmd) = dockerfile_args("CMD")
    return json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)


def dockerfile_env() -> dict[str, str]:
    env = {}
    for args in dockerfile_args("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def dockerfile_run_commands() -> list[list[str]]:
    """Each simple command of every RUN, with leading VAR=value assignments removed."""
    argvs = []
    for args in dockerfile_args("RUN"):
        for part in re.split(r"&&|;", args):
            argv = shlex.split(part)
            while argv and re.match(r"^\w+=", argv[0]):
                argv.pop(0)
            if argv:
                argvs.append(argv)
    return argvs


def dockerfile_copy_sources() -> list[str]:
    sources = []
    for args in dockerfile_args("COPY") + dockerfile_args("ADD"):
        parts = [part for part in shlex.split(args) if not part.startswith("--")]
        sources.extend(parts[:-1])
    return sources


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_dockerignored(relative_path: str) -> bool:
    """Whether the path, or a directory above it, matches a .dockerignore pattern."""
    parts = PurePosixPath(relative_path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        patterns = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatch(c, p) for c in candidates for p in patterns):
            ignored = not negate
    return ignored


# --- What the containers run ------------------------------------------------------


def all_commands() -> list[list[str]]:
    """Every argv the setup runs: service commands, healthchecks, RUN steps, the CMD."""
    argvs = [command(name) for name in image_services()]
    argvs += [healthcheck_argv(name) for name in image_services() if "healthcheck" in service(name)]
    return argvs + dockerfile_run_commands() + [dockerfile_cmd()]


def manage_py_argv(argv: list[str]) -> list[str]:
    """What follows manage.py in an argv: the command and its options."""
    return argv[argv.index("manage.py") + 1 :] if "manage.py" in argv else []


def manage_py_commands() -> set[str]:
    return {manage_py_argv(argv)[0] for argv in all_commands() if manage_py_argv(argv)}


def gunicorn_invocations() -> list[list[str]]:
    return [argv for argv in all_commands() if Path(argv[0]).name == "gunicorn"]


def celery_invocations() -> list[list[str]]:
    return [argv for argv in all_commands() if Path(argv[0]).name == "celery"]


def option_value(argv: list[str], *names: str) -> str | None:
    for index, token in enumerate(argv):
        if token in names and index + 1 < len(argv):
            return argv[index + 1]
        for name in names:
            if name.startswith("--") and token.startswith(name + "="):
                return token.split("=", 1)[1]
    return None


def celery_subcommand(argv: list[str]) -> str:
    """The first positional word after the global options (-A/--app take a value)."""
    rest = iter(argv[1:])
    for token in rest:
        if token in ("-A", "--app", "-b", "--broker", "--result-backend", "--workdir"):
            next(rest, None)
        elif not token.startswith("-"):
            return token
    raise AssertionError(f"no celery subcommand in {argv}")


def parse_gunicorn(argv: list[str]):
    """Gunicorn's own argument parser, so unknown options fail here as they would there."""
    from gunicorn.config import Config

    return Config().parser().parse_args(argv[1:])


# --- Services --------------------------------------------------------------------


def test_expected_services_exist():
    assert set(services()) >= EXPECTED_SERVICES


def test_the_app_scans_files_with_the_clamav_service():
    url = urlsplit(interpolate(environment("worker")["CLAMD_URL"]))
    assert (url.scheme, url.hostname, url.port) == ("tcp", "clamav", 3310)
    assert "clamdcheck.sh" in healthcheck_argv("clamav")
    assert "libmagic1" in DOCKERFILE.read_text()


def test_app_services_run_the_project_image():
    assert set(APP_SERVICES) <= set(image_services())


def test_postgres_data_lives_in_a_declared_named_volume():
    volumes = named_volumes("postgres")
    assert volumes, "postgres must keep its data in a named volume"
    declared = compose().get("volumes") or {}
    for volume in volumes:
        assert volume in declared, f"volume {volume!r} is not declared at the top level"


@pytest.mark.parametrize("name", HEALTHCHECKED_SERVICES)
def test_service_has_a_healthcheck(name):
    healthcheck = service(name).get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable")
    test = healthcheck["test"]
    assert isinstance(test, str) or test[0] in ("CMD", "CMD-SHELL"), test


def test_export_files_are_on_one_volume_every_app_service_mounts():
    """Workers write export files, web serves them: MEDIA_ROOT (VAR_DIR/media,
    the settings' default) is one named volume in every application service,
    and the image makes that directory its user's, so the new volume is too."""
    var_dir = PurePosixPath(dockerfile_env()["VAR_DIR"])
    media_root = var_dir / "media"
    volumes = {volume_mounts(name).get(str(media_root)) for name in APP_SERVICES}
    assert len(volumes) == 1 and None not in volumes, volumes
    assert volumes <= set(compose().get("volumes") or {})
    assert "MEDIA_ROOT" not in environment("web")
    commands = dockerfile_run_commands()
    assert ["mkdir", "-p", str(media_root)] in commands
    assert ["chown", "-R", "app:app", str(var_dir)] in commands


def test_a_bucket_replaces_the_volume_only_when_set():
    env = environment("web")
    assert interpolate(env["AWS_STORAGE_BUCKET_NAME"]) == ""
    chosen = {"AWS_STORAGE_BUCKET_NAME": "acme-exports", "AWS_S3_ENDPOINT_URL": "http://minio:9000"}
    for key, value in chosen.items():
        assert interpolate(env[key], chosen) == value
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert interpolate(env[key]) == "", f"{key} must not have a default"


def test_the_esp_webhook_secret_is_passed_through_without_a_default():
    """ESP webhooks are refused until the deployer sets the secret."""
    env = environment("web")
    assert interpolate(env["ANYMAIL_WEBHOOK_SECRET"]) == ""
    chosen = {"ANYMAIL_WEBHOOK_SECRET": "hook:s3cret"}
    assert interpolate(env["ANYMAIL_WEBHOOK_SECRET"], chosen) == "hook:s3cret"


def test_worker_can_be_scaled():
    worker = service("worker")
    # A fixed name, published port or hostname would clash between replicas
    # (the hostname also names the Celery node).
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "hostname" not in worker


def test_beat_runs_once():
    assert "deploy" not in service("beat") and "scale" not in service("beat")


# --- Environment -------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_environment(name):
    env = environment(name)
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"):
        assert env.get(key), f"{name} does not set {key}"
    # Parsed the way collections_app/settings.py parses it.
    assert environ.Env.parse_value(interpolate(env["DEBUG"]), bool) is False


def test_every_image_service_shares_one_environment():
    first, *others = image_services()
    for name in others:
        assert environment(name) == environment(first), f"{name} differs from {first}"


def test_secret_key_must_be_supplied():
    with pytest.raises(MissingVariable):
        interpolate(environment("web")["SECRET_KEY"])
    supplied = interpolate(environment("web")["SECRET_KEY"], {"SECRET_KEY": "x" * 50})
    assert supplied == "x" * 50


def test_https_defaults_off_for_plain_http_on_localhost():
    env = environment("web")
    assert environ.Env.parse_value(interpolate(env["HTTPS"]), bool) is False
    assert environ.Env.parse_value(interpolate(env["HTTPS"], {"HTTPS": "true"}), bool) is True


def test_database_url_points_at_the_postgres_service():
    config = environ.Env.db_url_config(environment("web")["DATABASE_URL"])
    postgres = environment("postgres")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["HOST"] in services()
    assert "pg_isready" in " ".join(healthcheck_argv(config["HOST"]))
    assert config["NAME"] == postgres["POSTGRES_DB"]
    assert config["USER"] == postgres["POSTGRES_USER"]
    assert config["PASSWORD"] == postgres["POSTGRES_PASSWORD"]


def test_redis_url_points_at_the_redis_service():
    url = urlsplit(environment("web")["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in services()
    assert "redis-cli" in healthcheck_argv(url.hostname)


# --- Start-up order --------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_healthy_backing_services(name):
    deps = depends_on(name)
    for backing in BACKING_SERVICES:
        assert deps.get(backing) == "service_healthy", f"{name} -> {backing}: {deps}"


def test_dependency_conditions_can_be_met():
    for name in services():
        for dep, condition in depends_on(name).items():
            assert dep in services(), f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in service(dep), f"{dep} has no healthcheck"
            if condition == "service_completed_successfully":
                # A one-shot job that restarted after success would never "complete".
                restart = service(dep).get("restart", "no")
                assert restart in ("no", False) or str(restart).startswith("on-failure"), dep


def test_migrations_run_before_the_app_starts():
    migrators = [name for name in image_services() if "migrate" in manage_py_argv(command(name))]
    assert migrators, "nothing runs manage.py migrate"
    for name in APP_SERVICES:
        if name in migrators:
            continue
        deps = depends_on(name)
        assert any(deps.get(m) == "service_completed_successfully" for m in migrators), name


# --- The commands exist in the project ---------------------------------------------


def test_gunicorn_serves_the_projects_wsgi_application():
    from gunicorn.util import import_app

    invocations = gunicorn_invocations()
    assert invocations, "nothing runs gunicorn"
    for argv in invocations:
        args = parse_gunicorn(argv)
        assert args.args, f"no WSGI target in {argv}"
        for target in args.args:
            module, _, attribute = target.partition(":")
            assert attribute == "application", target
            with warnings.catch_warnings():
                # WhiteNoise notes that collectstatic has not run in this checkout.
                warnings.filterwarnings("ignore", "No directory at", UserWarning)
                application = import_app(target)
            assert callable(application), target


def test_web_serves_its_published_port():
    (args,) = [parse_gunicorn(argv) for argv in [command("web")]]
    bind_ports = {int(address.rsplit(":", 1)[1]) for address in args.bind}
    assert set(container_ports("web")) <= bind_ports


def test_web_healthcheck_probes_the_health_view():
    from django.http.request import split_domain_port, validate_host
    from django.urls import resolve

    from collections_app import views

    argv = healthcheck_argv("web")
    (url,) = re.findall(r"https?://[^\s'\"]+", " ".join(argv))
    url = urlsplit(url)
    assert argv[0] == "python", "the slim image has python, not curl"
    assert resolve(url.path).func is views.health
    assert url.port in {int(a.rsplit(":", 1)[1]) for a in parse_gunicorn(command("web")).bind}
    # The probe's Host header must pass ALLOWED_HOSTS, whatever the deployer sets.
    host, _ = split_domain_port(url.netloc)
    for deployed in (None, "collections.example.com"):
        variables = {"ALLOWED_HOSTS": deployed} if deployed else {}
        allowed = environ.Env.parse_value(
            interpolate(environment("web")["ALLOWED_HOSTS"], variables), list
        )
        assert validate_host(host, allowed), allowed


def test_celery_commands_use_the_projects_celery_app():
    from celery import Celery
    from celery.app.utils import find_app
    from celery.bin.celery import celery as celery_cli

    invocations = celery_invocations()
    subcommands = {celery_subcommand(argv) for argv in invocations}
    assert {"worker", "beat"} <= subcommands
    for argv in invocations:
        app_name = option_value(argv, "-A", "--app")
        assert app_name, f"{argv} does not name its app"
        assert isinstance(find_app(app_name), Celery), app_name
        assert celery_subcommand(argv) in celery_cli.commands, argv


def test_beat_schedule_is_written_to_the_images_writable_directory():
    (beat,) = [argv for argv in celery_invocations() if celery_subcommand(argv) == "beat"]
    schedule = option_value(beat, "-s", "--schedule")
    assert schedule, "beat's default schedule file is relative to the read-only /app"
    assert PurePosixPath(schedule).parent == PurePosixPath(dockerfile_env()["VAR_DIR"])


def test_manage_py_commands_exist():
    from django.core.management import get_commands

    used = manage_py_commands()
    assert {"migrate", "collectstatic"} <= used
    assert used <= set(get_commands()), used - set(get_commands())


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_base_image_satisfies_requires_python():
    from packaging.specifiers import SpecifierSet

    (base,) = dockerfile_args("FROM")
    name, _, tag = base.split()[0].partition(":")
    assert name == "python" and tag.endswith("-slim"), base
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert tag.removesuffix("-slim") in SpecifierSet(requires), (tag, requires)


def test_dockerfile_refers_to_files_that_exist():
    for source in dockerfile_copy_sources():
        assert (ROOT / source).exists(), source
        assert source == "." or not is_dockerignored(source), source
    referenced = {"pyproject.toml", "manage.py"}
    run_words = {word for argv in dockerfile_run_commands() for word in argv}
    assert "manage.py" in run_words
    assert any(argv[:3] == ["pip", "install", "."] for argv in dockerfile_run_commands())
    assert "pyproject.toml" in dockerfile_copy_sources()
    for name in referenced:
        assert (ROOT / name).is_file(), name
        assert not is_dockerignored(name), f"{name} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_but_code_in():
    for path in (".venv", "var", ".git", "staticfiles", "collections_app/__pycache__"):
        assert is_dockerignored(path), path
    for path in ("collections_app/settings.py", "static", "templates", "manage.py"):
        assert not is_dockerignored(path), path


def test_image_runs_as_a_non_root_user():
    users = dockerfile_args("USER")
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_collectstatic_runs_at_build_with_a_throwaway_key():
    (run,) = [args for args in dockerfile_args("RUN") if "collectstatic" in args]
    assert "SECRET_KEY=" in run
    assert "SECRET_KEY" not in dockerfile_env(), "the build key must not persist in the image"
