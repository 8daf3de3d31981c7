"""Configuration and key sanity checks (``strongroom check``, and start-up of every server).

Each check returns findings; an ``error`` finding means Strongroom must not serve. Nothing
here prints or logs a secret: keys are named by their ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)

OK = "ok"
WARNING = "warning"
ERROR = "error"


@dataclass(frozen=True)
class Finding:
    check: str
    level: str
    message: str


def check_database() -> list[Finding]:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return [
            Finding(
                "database",
                ERROR,
                f"the database ({connection.vendor}) cannot be reached: {exc}".strip(),
            )
        ]
    name = connection.settings_dict.get("NAME")
    found = [Finding("database", OK, f"{connection.vendor} database {name} answers")]
    if settings.PRODUCTION and connection.vendor == "sqlite":
        found.append(
            Finding(
                "database",
                WARNING,
                "production mode on SQLite: fine for one node; scale-out needs PostgreSQL "
                "(STRONGROOM_DATABASE_URL)",
            )
        )
    return found


def pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def check_migrations() -> list[Finding]:
    try:
        pending = pending_migrations()
    except DatabaseError as exc:
        return [Finding("migrations", ERROR, f"cannot read the migration state: {exc}")]
    if pending:
        shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
        return [
            Finding(
                "migrations",
                ERROR,
                f"{len(pending)} migrations are not applied ({shown}); run: strongroom migrate",
            )
        ]
    return [Finding("migrations", OK, "all migrations are applied")]


def check_master_key() -> list[Finding]:
    from strongroom.core import keys
    from strongroom.core.models import DataKey

    found: list[Finding] = []
    try:
        ring = keys.verify(create_missing=False)
    except keys.MasterKeyProblem as exc:
        return [Finding("master key", ERROR, exc.message)]
    except DatabaseError as exc:
        return [Finding("master key", ERROR, f"cannot read the data keys: {exc}")]
    count = DataKey.objects.count()
    found.append(
        Finding(
            "master key",
            OK,
            f"master key {ring.primary_id} from the {ring.source} opens all {count} data keys",
        )
    )
    if ring.source == "file":
        path = keys.key_file_path()
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            found.append(
                Finding("master key", ERROR, f"{path} has mode {mode:o}; run: chmod 600 {path}")
            )
        if keys.next_key_path().exists():
            found.append(
                Finding(
                    "master key",
                    WARNING,
                    "a master key rotation is unfinished; run: strongroom key rotate",
                )
            )
        if settings.PRODUCTION:
            found.append(
                Finding(
                    "master key",
                    WARNING,
                    "the master key is a file next to the data; in production prefer "
                    "STRONGROOM_MASTER_KEY_COMMAND (an external KMS or vault)",
                )
            )
    if DataKey.objects.filter(status=DataKey.Status.RETIRED).exists():
        found.append(
            Finding(
                "master key",
                WARNING,
                "a re-encryption is unfinished; run: strongroom key rotate --reencrypt",
            )
        )
    return found


def check_secret_key() -> list[Finding]:
    if settings.PRODUCTION:
        if len(settings.SECRET_KEY) < 40:
            return [
                Finding(
                    "secret key",
                    ERROR,
                    "STRONGROOM_SECRET_KEY is shorter than 40 characters; generate one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
                )
            ]
        return [Finding("secret key", OK, "STRONGROOM_SECRET_KEY is set")]
    path = Path(settings.DATA_DIR) / "django-secret.key"
    return [Finding("secret key", OK, f"embedded mode: kept in {path}")]


def check_public_url() -> list[Finding]:
    url = settings.PUBLIC_URL
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return [
            Finding(
                "public URL",
                ERROR,
                f"STRONGROOM_PUBLIC_URL {url!r} is not an http(s) URL with a host name",
            )
        ]
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        return [
            Finding(
                "public URL",
                ERROR,
                f"STRONGROOM_PUBLIC_URL {url!r} must be the site root (no path, query or "
                "fragment); Strongroom is served at /",
            )
        ]
    found = [Finding("public URL", OK, f"public URL is {url}")]
    if settings.PRODUCTION and parts.scheme != "https":
        found.append(
            Finding(
                "public URL",
                WARNING,
                "production mode with a plain-http public URL: cookies are not marked Secure; "
                "put Strongroom behind TLS",
            )
        )
    if settings.PRODUCTION and settings.DEBUG:
        found.append(
            Finding("debug", ERROR, "STRONGROOM_DEBUG is on in production mode; turn it off")
        )
    if "*" in settings.ALLOWED_HOSTS:
        found.append(
            Finding(
                "allowed hosts",
                WARNING,
                "STRONGROOM_ALLOWED_HOSTS contains '*': any Host header is accepted",
            )
        )
    return found


def check_redis() -> list[Finding]:
    if not settings.REDIS_URL:
        return [
            Finding(
                "queue",
                OK,
                f"task queue on SQLite ({settings.HUEY['filename']}); set STRONGROOM_REDIS_URL "
                "to scale out",
            )
        ]
    import redis

    safe = urlsplit(settings.REDIS_URL)
    where = f"{safe.hostname}:{safe.port or 6379}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5)
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        return [
            Finding("queue", ERROR, f"Redis at {where} cannot be reached: {type(exc).__name__}")
        ]
    return [Finding("queue", OK, f"Redis at {where} answers")]


def configuration_errors() -> list[Finding]:
    """The errors of the checks that need no other service than the database: what the
    WSGI application refuses to load with (gunicorn started directly, without the CLI)."""
    found = check_master_key() + check_secret_key() + check_public_url()
    return [finding for finding in found if finding.level == ERROR]


ALL_CHECKS: list[Callable[[], list[Finding]]] = [
    check_database,
    check_migrations,
    check_master_key,
    check_secret_key,
    check_public_url,
    check_redis,
]


def run_all() -> list[Finding]:
    findings: list[Finding] = []
    for check in ALL_CHECKS:
        result = check()
        findings.extend(result)
        # Without a database (or its tables) the key check can only repeat the same failure.
        if check in (check_database, check_migrations) and any(f.level == ERROR for f in result):
            break
    return findings
