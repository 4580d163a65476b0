"""Settings for the collections back office, read from the environment.

With nothing set the app runs on embedded defaults (SQLite in WAL mode under
``var/`` and Celery's filesystem broker), so ``make run`` needs no server.
Production sets DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG=false and
ALLOWED_HOSTS; see the README for the full list.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from collections_app.preflight import database_config, database_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)


def _embedded_secret_key() -> str:
    """A key kept under var/ so sessions survive restarts of the embedded setup.
    Created atomically with mode 0600: web and worker may start together."""
    import os

    from django.core.management.utils import get_random_secret_key

    path = VAR_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(get_random_secret_key())
    for _attempt in range(50):  # another process may be writing it right now
        key = path.read_text().strip()
        if key:
            return key
        import time

        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it or set SECRET_KEY.")


SECRET_KEY = env.str("SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "anymail",
    # Before collections_app: axes' signal receivers must run before ours
    # (collections_app.security reads what axes recorded on the request).
    "axes",
    "csp",
    "common",
    "collections_app",
    "accounts",
    "billing",
    "communications",
    "bulkops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "collections_app.timeouts.StatementTimeoutMiddleware",
    # Last, as axes' docs require: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "collections_app.urls"
WSGI_APPLICATION = "collections_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "collections_app.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL, or SQLite in VAR_DIR when unset or empty. Parsed as `make run`'s
# start-up check parses it, so a malformed URL raises ImproperlyConfigured with
# the sentence the check prints instead of failing later inside Django.
DATABASES = {"default": database_config(database_url(env, VAR_DIR))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE
        # transactions take the write lock up front instead of failing late.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL cancels a web request's statement after this long (0: never);
# workers and management commands have no limit (collections_app.timeouts).
WEB_STATEMENT_TIMEOUT_MS = env.int("WEB_STATEMENT_TIMEOUT_MS", default=30_000)

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First, as axes' docs require: refuses any login while locked out.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading the user's company, role and permissions with
    # the user (one query where ModelBackend spends four).
    "accounts.backends.AccountsBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files (vendored: the app works offline) ---------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Set where collectstatic runs (the Docker image); unset, static files are
# served straight from the source folders (WHITENOISE_USE_FINDERS).
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- File storage: export files -----------------------------------------------
# Workers write export files and the web processes serve them, so all of them
# must see one storage: MEDIA_ROOT on a shared disk (docker-compose.yml mounts
# one volume there for every service), or, with AWS_STORAGE_BUCKET_NAME set,
# an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...) through django-storages.
# The bucket's credentials come the usual boto3 way (AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, a profile or an instance role), never from here.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
            "location": env.str("AWS_LOCATION", default=""),  # a key prefix
            # Private objects: files reach users only through the download view,
            # which checks who asks, honours the expiry and audits.
            "default_acl": None,
            "querystring_auth": True,
            # A redone chunk replaces its part under the same key.
            "file_overwrite": True,
            # Reading a part back, or serving a download, spills to disk past this.
            "max_memory_size": 16 * 1024 * 1024,
        },
    }
# The virus scanner account files go through (clamd): unix:///path/to/clamd.sock
# or tcp://host:3310. Unset or unreachable, uploads wait in quarantine.
CLAMD_URL = env.str("CLAMD_URL", default="tcp://127.0.0.1:3310")
CLAMD_TIMEOUT = env.int("CLAMD_TIMEOUT", default=30)
# Uploaded files of rows to select (a CSV of file numbers) are kept this long.
SELECTION_FILE_TTL_DAYS = env.int("SELECTION_FILE_TTL_DAYS", default=7)
EXPORT_LINK_TTL_HOURS = env.int("EXPORT_LINK_TTL_HOURS", default=24)  # export links live
# Serve straight from the app folders when collectstatic has not run (make run).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# --- Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
REDIS_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died is redelivered after this many seconds.
    "visibility_timeout": 3600,
    # A Redis that stops answering fails a publish (and so the web request
    # that made it) within seconds. Without them a lost host is waited for
    # as long as the kernel retries a connection (over two minutes), and a
    # peer gone silent without closing the socket, forever.
    "socket_connect_timeout": 3,
    "socket_timeout": 5,
}
if not REDIS_URL:
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_BROKER_TRANSPORT_OPTIONS
# A worker waits for its broker as long as it takes, at start-up (Redis may
# come up after it) and after losing it (by default it gives up after 100
# attempts, and exits).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A running task goes on when the broker goes away: a chunk needs only the
# database. (Celery 6 is to cancel such tasks by default.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "bulkops.record_heartbeat", "schedule": 15.0},
    "sweep-stale-bulk-operations": {"task": "bulkops.sweep_stale_operations", "schedule": 30.0},
    "start-due-bulk-operations": {"task": "bulkops.start_due_operations", "schedule": 30.0},
    "purge-expired-exports": {"task": "bulkops.purge_expired_exports", "schedule": 3600.0},
    "send-due-messages": {"task": "communications.send_due_messages", "schedule": 10.0},
    "mark-lost-sendings": {"task": "communications.mark_lost_sendings", "schedule": 60.0},
    "purge-send-windows": {"task": "communications.purge_send_windows", "schedule": 3600.0},
    "settle-promises": {"task": "billing.settle_promises", "schedule": 3600.0},
    "purge-fee-verifications": {"task": "billing.purge_fee_verifications", "schedule": 3600.0},
    "scan-waiting-files": {"task": "accounts.scan_waiting_files", "schedule": 300.0},
    "purge-expired-selection-files": {
        "task": "bulkops.purge_expired_selection_files",
        "schedule": 3600.0,
    },
}

# --- Cache --------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }

# --- Email (django-anymail) and SMS / voice (Twilio) ---------------------------
# EMAIL_BACKEND is any Django or anymail backend, e.g.
# "anymail.backends.mailgun.EmailBackend"; ANYMAIL_* variables configure it.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="collections@example.com")
# The domain of every message's Message-ID (<message-ID@domain>).
MESSAGE_ID_DOMAIN = env.str("MESSAGE_ID_DOMAIN", default="collections.example.com")
# A message still "sending" this long after a worker took it was lost with
# that worker: it is marked unknown for a person to decide, never resent.
MESSAGE_SENDING_TIMEOUT_SECONDS = env.int("MESSAGE_SENDING_TIMEOUT_SECONDS", default=300)
# How many due messages a worker takes, sends (over one connection) and
# records at once: a worker lost mid-batch leaves up to this many unknown.
MESSAGE_DISPATCH_BATCH = env.int("MESSAGE_DISPATCH_BATCH", default=50)
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in env.ENVIRON.items()
    if key.startswith("ANYMAIL_")
}
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
# Point the Twilio client somewhere else (a loopback server in tests).
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="")
# Where Twilio reports delivery (this app's /communications/twilio/status/,
# as the internet reaches it); empty: no status callbacks are asked for.
TWILIO_STATUS_CALLBACK_URL = env.str("TWILIO_STATUS_CALLBACK_URL", default="")
# This app's address as the recipients of its emails reach it, for the links
# the emails carry (each email's opt-out link, /optout/<token>/); the
# default is make run's.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000")
# How long an email's opt-out link works after it was sent (Regulation F);
# past it the page says how else to opt out.
OPT_OUT_LINK_MAX_AGE_DAYS = env.int("OPT_OUT_LINK_MAX_AGE_DAYS", default=90)

# --- Security -----------------------------------------------------------------
# Secure by default: everything below is on unless DEBUG is on or the
# deployment says otherwise (e.g. TLS terminated elsewhere).
_https = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto; only trusted
# when HTTPS is on (the proxy is then the only way in).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Login throttling (django-axes) ---------------------------------------------
# Failed logins are counted per username and, separately, per client address;
# either reaching the limit within the cool-off locks out (the lockout page,
# 429), for /login/ and /admin/login/ alike. collections_app.security renders
# the page, audits and resets. An operator unlocks with `manage.py
# axes_reset_username NAME` / `axes_reset_ip ADDRESS` / `axes_reset`, or in the
# Django admin's "Access attempts" (platform superusers only).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Attempts refused during a lockout neither count nor move the cool-off, so the
# page can say when it ends (and the attempts table does not grow with a flood).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not axes' own reset on success: it deletes every attempt of the client
# address too, so anyone who can log in could reset the address's count of
# guesses at somebody else's password. collections_app.security resets only
# the attempts of the user who logged in, from the address they logged in from.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "collections_app.security.lockout_response"
# The username as typed, cut to the longest a user can have: the login forms
# do not check the length, and axes' 255-character column would fail on
# PostgreSQL (a 500) for a longer one.
AXES_USERNAME_CALLABLE = "collections_app.security.client_username"
# The client address. Without a proxy (HTTPS off: make run, tests) it is the
# TCP peer, REMOTE_ADDR. Behind PROXY_COUNT reverse proxies (HTTPS on: the
# TLS-terminating proxy is the only way in), each appending the address it was
# connected from to X-Forwarded-For, the client is the PROXY_COUNT-th entry
# from the right: whatever a client wrote there itself stays on the left and
# is ignored. django-ipware (through axes) counts "proxies after the client"
# in the header, which is one less (the nearest proxy is REMOTE_ADDR, not in
# the header), and must not be strict, or a forged entry would void the header.
PROXY_COUNT = int(env.str("PROXY_COUNT", default="") or (1 if _https else 0))
if PROXY_COUNT > 0:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = PROXY_COUNT - 1
    AXES_IPWARE_PROXY_ORDER = "left-most"
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
    AXES_IPWARE_PROXY_COUNT = None

# --- Content-Security-Policy (django-csp 4) -------------------------------------
# Everything the pages load is our own: vendored htmx and Bootstrap, our CSS and
# scripts, all under /static/. No inline script, no style attribute, no eval
# (templates/base.html configures htmx accordingly); scripts set styles through
# the CSSOM, which CSP allows.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],  # anything not named below: our origin only
        "script-src": [SELF],  # /static/ files only: no inline, no eval
        "style-src": [SELF],  # our stylesheets; no <style>, no style=""
        # Bootstrap's CSS draws its form and navbar icons as data: SVGs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],  # none are loaded today; never a font CDN
        "connect-src": [SELF],  # htmx and fetch() talk to this server only
        "form-action": [SELF],  # forms post here only
        "frame-ancestors": [NONE],  # never framed (as X-Frame-Options: DENY)
        "base-uri": [SELF],  # no <base> pointing relative URLs elsewhere
        "object-src": [NONE],  # no plugins
        # Violations are logged (collections_app.views.csp_report).
        "report-uri": "/csp-report/",
    },
}
# A violation report is a small JSON document; anything bigger is refused.
CSP_REPORT_MAX_BYTES = 16 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"
