# Collections back office: one image for the web server, the Celery worker,
# Celery beat and the one-shot migration job (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# An unprivileged user; it owns nothing but the state directory.
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first so code changes do not reinstall them. The project has
# `packages = []`: installing it installs its dependencies only, and the code
# runs from the checkout copied below.
# libmagic: account files' types are read from their content.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml ./
RUN pip install . \
    && rm -rf build ./*.egg-info

COPY . .

# VAR_DIR holds run-time state (celerybeat schedule, embedded secret key if
# SECRET_KEY is not set, export files under media/, where docker-compose.yml
# mounts a volume shared by every service); it is the only path the app user
# may write to.
# Static files are collected into the image, so WhiteNoise need not search
# the app folders at run time.
ENV VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    WHITENOISE_USE_FINDERS=false

# The key here only lets the settings load for collectstatic; it is not kept
# in the image. Build-time state goes to a scratch VAR_DIR that is removed.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret VAR_DIR=/tmp/build-var \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-var /app/var \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

USER app

EXPOSE 8000

CMD ["gunicorn", "collections_app.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
