"""Export build cost: the encrypted offline HTML file, CSV and XLSX at 1,000 / 10,000 /
100,000 entries, through the real export service (policy checks, scope query, unsealing,
file build, audit record).

usage: .venv/bin/python bench/exports.py [--sizes 1000,10000,100000] [--runs 3] [--quick]
       [--kinds floor,select,html,csv,xlsx,register] [--interleave]

For each size a private installation is made (SQLite in a temporary data directory, or a
fresh database on the PostgreSQL server when STRONGROOM_DATABASE_URL points at one) and
filled with the standard synthetic vault of bench/gen_vault.py: one resource and one
account per entry, its folder as a resource group, every password and note sealed with
``core.secrets.seal_into`` exactly as the services would. The rows are bulk-inserted by
this benchmark (creating 100,000 accounts one by one through the audited services would
take far longer than the measurement); the exporting user owns them all, so the scope is
the whole vault.

Each build then runs in a fresh subprocess, so that its peak RSS (``ru_maxrss``) is that
build's alone: Django is set up, the master key is loaded and the passphrase estimator is
warmed up (as in a running server), then one timed call of ``export_offline_html`` (the
production PBKDF2 cost, 600,000 iterations, is included) or ``export_spreadsheet`` (with
passwords). ``select`` times only the scope query and unsealing (``export_entries``),
the part every format shares. ``register`` times only the exposure register's write for
one build of the whole scope (docs/exposure.md): with a set no build recorded before
(``new``: one set row and one entry row per account) and again with the same set
(``reused``: what an unchanged rebuild costs); its ratio to the html build is printed.
``html`` includes the register (its first run writes the set, later runs reuse it).
Medians of ``--runs`` runs are printed. ``floor`` (see ``_floor``) is the least any HTML
export of the same vault must do, measured in the same run: each kind's wall-clock and CPU
ratio to it is printed, the figure to compare on a machine whose load comes and goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "bench offline copy passphrase, not a secret"
KINDS = ("floor", "select", "html", "csv", "xlsx", "register")
BATCH = 2000


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    os.environ.setdefault("STRONGROOM_LOG_LEVEL", "WARNING")
    os.environ.setdefault("STRONGROOM_ARGON2_FAST", "1")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _rss_kib() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# ----------------------------------------------------------------------------- seeding


def seed(n: int) -> None:
    """Child: migrate the private database and fill it with ``n`` entries."""
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sys.path.insert(0, str(ROOT / "bench"))
    import gen_vault

    from strongroom.accounts import services as people
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.exports.services import export_policy_update
    from strongroom.vault.models import Account, Resource, ResourceGroup

    keys.verify()
    owner = people.user_create(
        actor=None, username="bench", password="Bench-login-0123", role="admin"
    )
    export_policy_update(actor=owner, values={"plain_text_allowed": True})
    entries = gen_vault.generate(n)
    folders: dict[str, ResourceGroup] = {}
    for entry in entries:
        if entry["folder"] not in folders:
            folders[entry["folder"]] = ResourceGroup(name=entry["folder"], owner=owner)
    ResourceGroup.objects.bulk_create(folders.values(), batch_size=BATCH)
    through = ResourceGroup.resources.through
    for start in range(0, n, BATCH):
        chunk = entries[start : start + BATCH]
        resources = []
        accounts = []
        links = []
        for entry in chunk:
            url = entry["url"]
            host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
            resource = Resource(
                owner=owner,
                name=entry["name"],
                resource_type=entry["type"],
                host=host,
                url=url,
                department="IT",
            )
            resources.append(resource)
            account = Account(resource=resource, username=entry["username"])
            seal_into(account, "password", entry["password"])
            if entry["notes"]:
                seal_into(account, "notes", entry["notes"])
            accounts.append(account)
            links.append(
                through(resourcegroup_id=folders[entry["folder"]].pk, resource_id=resource.pk)
            )
        Resource.objects.bulk_create(resources, batch_size=BATCH)
        Account.objects.bulk_create(accounts, batch_size=BATCH)
        through.objects.bulk_create(links, batch_size=BATCH)
    from django.db import connection

    if connection.vendor == "postgresql":
        # Fresh planner statistics, as autovacuum would have gathered by then (this machine's
        # test cluster runs with autovacuum off; with no statistics after a bulk load the
        # scope query's plan is off by orders of magnitude).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(json.dumps({"entries": Account.objects.count(), "folders": len(folders)}))


# ----------------------------------------------------------------------------- one build


def build(kind: str) -> None:
    """Child: one timed export; prints a JSON line."""
    _setup_django()
    from strongroom.accounts.models import User
    from strongroom.core import keys
    from strongroom.exports import policy, selectors, services

    keys.verify()
    policy.passphrase_strength("warm up the estimator")
    user = User.objects.get(username="bench")
    idle = _rss_kib()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if kind == "floor":
        out = _floor()
    elif kind == "select":
        entries = selectors.export_entries(
            user=user, scope=selectors.ExportScope(), with_secrets=True
        )
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "entries": len(entries), "size": 0}
    elif kind == "register":
        out = _register(user)
    else:
        if kind == "html":
            result = services.export_offline_html(actor=user, passphrase=PASSPHRASE)
        else:
            result = services.export_spreadsheet(actor=user, fmt=kind, with_passwords=True)
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "entries": result.entry_count, "size": len(result.content)}
    out.update(cpu=time.process_time() - cpu0, peak_rss_kib=_rss_kib(), idle_rss_kib=idle)
    print(json.dumps(out))


def _floor() -> dict[str, Any]:
    """The least any HTML export of this vault must do, written plainly with the same
    libraries and no application code: one SQL read of every account with its resource
    (plain columns, ordered by name; no access rules), AES-GCM opening of every sealed
    value (the key looked up once), JSON of the rows in 2,000-row segments, gzip level 6
    and AES-GCM of each, and PBKDF2 at 600,000 iterations. One thread."""
    import base64
    import gzip

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from django.db import connection

    from strongroom.core import keys
    from strongroom.crypto import envelope
    from strongroom.vault.models import Account, Resource

    account, resource = Account._meta.db_table, Resource._meta.db_table
    columns = (
        "a.id, a.username, a.password, a.notes, a.totp_seed, a.updated_at, r.name, "
        "r.resource_type, r.host, r.url, r.department, r.location, r.description, "
        "r.custom_fields"
    )
    joined = f"{account} a JOIN {resource} r ON r.id = a.resource_id"
    sql = f"SELECT {columns} FROM {joined} ORDER BY r.name, a.username"  # noqa: S608
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    ciphers: dict[int, AESGCM] = {}
    out: list[list[Any]] = []
    for row in rows:
        pk = row[0]
        pk = str(pk) if not isinstance(pk, str) else str(uuid.UUID(hex=pk))
        values = list(row[1:])
        for index, field in ((1, "password"), (2, "notes"), (3, "totp_seed")):
            blob = values[index]
            if blob is None:
                continue
            blob = bytes(blob)
            key_id = envelope.sealed_key_id(blob)
            cipher = ciphers.get(key_id)
            if cipher is None:
                cipher = ciphers[key_id] = AESGCM(keys.data_key(key_id))
            aad = blob[:5] + envelope.field_aad(account, pk, field)
            values[index] = cipher.decrypt(blob[5:17], blob[17:], aad).decode()
        values[4] = str(values[4])
        out.append(values)
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    sealed = [
        base64.b64encode(
            aead.encrypt(
                os.urandom(12),
                gzip.compress(
                    json.dumps(
                        out[start : start + 2000], separators=(",", ":"), default=str
                    ).encode(),
                    compresslevel=6,
                    mtime=0,
                ),
                b"header",
            )
        )
        for start in range(0, len(out), 2000)
    ]
    PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=os.urandom(16), iterations=600_000
    ).derive(PASSPHRASE.encode())
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "entries": len(rows), "size": sum(map(len, sealed))}


def _register(user: Any) -> dict[str, Any]:
    """The register's write for one build of the whole scope, new set then reused set, and
    the size of the entry table afterwards."""
    from django.db import connection
    from django.utils import timezone

    from strongroom.exports import selectors
    from strongroom.exposure.models import ExposureSet, ExposureSetEntry, OfflineBuild
    from strongroom.exposure.services import BuildDestination, build_record

    versions: list[tuple[str, int]] = []
    selectors.export_entries(
        user=user, scope=selectors.ExportScope(), with_secrets=False, versions=versions
    )
    # Untimed: forget what earlier runs recorded, so the first write makes a new set.
    OfflineBuild.objects.all().delete()
    ExposureSet.objects.all().delete()
    if connection.vendor == "postgresql":
        # The rows earlier runs deleted would count in the table's size (no autovacuum here).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM FULL {ExposureSetEntry._meta.db_table}")

    def record() -> float:
        t0 = time.perf_counter()
        build_record(
            user=user,
            fmt="html",
            built_at=timezone.now(),
            destination=BuildDestination(object_name="bench.html"),
            versions=versions,
        )
        return time.perf_counter() - t0

    new, reused = record(), record()
    table = ExposureSetEntry._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        else:
            cursor.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = %s)",
                [table],
            )
        size = int(cursor.fetchone()[0] or 0)
    return {"seconds": new, "reused": reused, "entries": len(versions), "size": size}


# ----------------------------------------------------------------------------- driver


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _installation(n: int, tmp: Path) -> tuple[dict[str, str], Any]:
    env = dict(os.environ)
    env["STRONGROOM_DATA_DIR"] = str(tmp / f"data-{n}")
    env["STRONGROOM_LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = str(ROOT / "src")
    env.pop("STRONGROOM_MASTER_KEY", None)
    env.pop("STRONGROOM_MASTER_KEY_COMMAND", None)
    env.pop("STRONGROOM_MASTER_KEY_FILE", None)
    url = env.get("STRONGROOM_DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        env.pop("STRONGROOM_DATABASE_URL", None)
        return env, lambda: None
    import psycopg

    name = f"sr_bench_exports_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["STRONGROOM_DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path="/" + name))

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return env, drop


def _kdf_seconds() -> float:
    sys.path.insert(0, str(ROOT / "src"))
    from strongroom.crypto.offline import copy_keys_create

    t0 = time.perf_counter()
    copy_keys_create(passphrase=PASSPHRASE, iterations=600_000)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_seed"]:
        seed(int(argv[1]))
        return 0
    if argv[:1] == ["_build"]:
        build(argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated, of " + ", ".join(KINDS)
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 entries, 1 run")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="run the kinds in turn (floor, select, html, floor, …) instead of each kind's "
        "runs together, so that a change in the machine's load falls on every kind alike",
    )
    # bench/run.py hands every benchmark the same arguments; ignore the other ones' options.
    args, _ = parser.parse_known_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.quick:
        sizes, args.runs = [s for s in sizes if s <= 10_000] or sizes[:1], 1

    rows: list[tuple[int, str, dict[str, Any]]] = []
    seeds: dict[int, float] = {}
    db = "SQLite"
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-exports-") as folder:
        for n in sizes:
            env, drop = _installation(n, Path(folder))
            if "STRONGROOM_DATABASE_URL" in env:
                db = "PostgreSQL"
            try:
                t0 = time.perf_counter()
                seeded = _child(["_seed", str(n)], env)
                seeds[n] = time.perf_counter() - t0
                assert seeded["entries"] == n, seeded
                kinds = [k for k in args.kinds.split(",") if k in KINDS]
                done: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
                if args.interleave:
                    for _ in range(args.runs):
                        for kind in kinds:
                            done[kind].append(_child(["_build", kind], env))
                for kind in kinds:
                    runs = done[kind] or [_child(["_build", kind], env) for _ in range(args.runs)]
                    assert all(r["entries"] == n for r in runs), runs
                    rows.append(
                        (
                            n,
                            kind,
                            {
                                "seconds": statistics.median(r["seconds"] for r in runs),
                                "worst": max(r["seconds"] for r in runs),
                                "cpu": statistics.median(r["cpu"] for r in runs),
                                "peak_mib": statistics.median(r["peak_rss_kib"] for r in runs)
                                / 1024,
                                "idle_mib": statistics.median(r["idle_rss_kib"] for r in runs)
                                / 1024,
                                "size": runs[-1]["size"],
                                "reused": statistics.median(r.get("reused", 0) for r in runs),
                            },
                        )
                    )
                    print(f"  {n:>7,} {kind:<6} {rows[-1][2]['seconds']:.2f} s", file=sys.stderr)
            finally:
                drop()

    kdf = _kdf_seconds()
    print(
        f"\nExport builds — {db}, median of {args.runs} run(s), each in its own process "
        f"(peak RSS of that process; idle = after Django set-up)\n"
    )
    print(
        "| entries | format        | median s | worst s | CPU s | peak RSS MiB | idle MiB "
        "| file size |"
    )
    print(
        "|--------:|---------------|---------:|--------:|------:|-------------:|---------:"
        "|----------:|"
    )
    for n, kind, r in rows:
        size = "—" if kind == "select" else f"{r['size'] / 1_048_576:.2f} MiB"
        label = {
            "select": "select+unseal",
            "register": "register new",
            "floor": "floor",
        }.get(kind, kind)
        print(
            f"| {n:>7,} | {label:<13} | {r['seconds']:>8.2f} | {r['worst']:>7.2f} | "
            f"{r['cpu']:>5.2f} | {r['peak_mib']:>12.0f} | {r['idle_mib']:>8.0f} | {size:>9} |"
        )
    html = {n: r["seconds"] for n, kind, r in rows if kind == "html"}
    floors = {n: r for n, kind, r in rows if kind == "floor"}
    for n, kind, r in rows:
        if kind in ("select", "html") and n in floors:
            print(
                f"\n{kind} at {n:,} entries: {r['seconds'] / floors[n]['seconds']:.2f}x the floor "
                f"(wall), {r['cpu'] / floors[n]['cpu']:.2f}x (CPU)"
            )
    for n, kind, r in rows:
        if kind == "register" and n in html:
            print(
                f"\nexposure register at {n:,} entries: new set {r['seconds']:.3f} s "
                f"({r['seconds'] / html[n]:.1%} of the html build), reused set "
                f"{r['reused']:.3f} s ({r['reused'] / html[n]:.1%}); entry table "
                f"{r['size'] / 1_048_576:.2f} MiB ({r['size'] / n:.0f} bytes per entry)"
            )
    print(f"\nhtml includes PBKDF2-HMAC-SHA256 at 600,000 iterations: {kdf:.2f} s on this machine.")
    print(
        "floor: the same rows read by one plain SQL query, opened, written as JSON, gzipped "
        "and sealed, and PBKDF2, without access rules or application code (bench _floor)."
    )
    print(f"load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("set-up (bulk seeding): " + ", ".join(f"{n:,}: {s:.0f} s" for n, s in seeds.items()))
    slow = [r for n, kind, r in rows if kind == "html" and n >= 100_000 and r["seconds"] > 5]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
