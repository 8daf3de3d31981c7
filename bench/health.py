"""Password health run cost: the worker's run over the whole vault (decrypt, zxcvbn score,
reuse by per-run HMAC, breached-list lookup by k-anonymity prefix, result rows written) and
a user's report read, at 1,000 / 10,000 accounts of bench/gen_vault.py's vault, next to a
floor measured in the same run: decrypting every password and nothing else (the part no
health check can avoid).

usage: .venv/bin/python bench/health.py [--sizes 1000,10000] [--runs 3]

A private SQLite installation in a temporary data directory (or, with
STRONGROOM_DATABASE_URL, the database it names: use a private one). Accounts are bulk
inserted and sealed with ``core.secrets.seal_into`` as the services would; one in ten
reuses an earlier account's password and one in twenty gets a common weak password, so
reuse and weak findings exist. A breached list of 100,000 hashes (including the weak
passwords) is loaded through the real service. Medians of ``--runs``; peak Python
allocation (tracemalloc) of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEAK = ["password1", "qwerty123", "letmein", "dragon", "monkey12", "iloveyou"]
BATCH = 2000


def _setup(data_dir: str) -> None:
    os.environ.setdefault("STRONGROOM_DATA_DIR", data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    os.environ.setdefault("STRONGROOM_LOG_LEVEL", "WARNING")
    os.environ.setdefault("STRONGROOM_ARGON2_FAST", "1")
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(n: int):
    import gen_vault

    from strongroom.accounts import services as people
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.health.models import AccountHealth, HealthRun
    from strongroom.vault.models import Account, Resource

    keys.verify()
    HealthRun.objects.all().delete()
    AccountHealth.objects.all().delete()
    Account.objects.all().delete()
    Resource.objects.all().delete()
    from strongroom.accounts.models import User

    owner = User.objects.filter(username="bench").first() or people.user_create(
        actor=None, username="bench", password="Bench-login-0123", role="admin"
    )
    from django.utils import timezone

    changed = timezone.now()
    entries = gen_vault.generate(n)
    for start in range(0, n, BATCH):
        resources, accounts = [], []
        for i, entry in enumerate(entries[start : start + BATCH], start=start):
            resource = Resource(owner=owner, name=entry["name"], resource_type=entry["type"])
            resources.append(resource)
            password = entry["password"]
            if i % 20 == 7:
                password = WEAK[i % len(WEAK)]
            elif i % 10 == 3 and i > 10:
                password = entries[i - 10]["password"]
            account = Account(
                resource=resource, username=entry["username"], password_changed_at=changed
            )
            seal_into(account, "password", password)
            accounts.append(account)
        Resource.objects.bulk_create(resources, batch_size=BATCH)
        Account.objects.bulk_create(accounts, batch_size=BATCH)
    return owner


def _breached(owner) -> None:
    from strongroom.health import services

    lines = [
        f"{hashlib.sha1(f'breach-{i}'.encode(), usedforsecurity=False).hexdigest().upper()}:{i}"
        for i in range(100_000 - len(WEAK))
    ]
    lines += [
        f"{hashlib.sha1(w.encode(), usedforsecurity=False).hexdigest().upper()}:99" for w in WEAK
    ]
    services.breached_list_load(
        actor=owner, source=io.BytesIO("\n".join(lines).encode()), name="bench"
    )


def _floor() -> float:
    from strongroom.core.secrets import Unsealer
    from strongroom.vault.models import Account

    unseal = Unsealer(Account).unseal
    t0 = time.perf_counter()
    for pk, blob in Account.objects.order_by().values_list("pk", "password").iterator(2000):
        unseal(blob, str(pk), "password")
    return time.perf_counter() - t0


def _run(owner, cold: bool) -> tuple[float, int]:
    """One run; ``cold``: no earlier run to take unchanged passwords' scores from."""
    from strongroom.health import services
    from strongroom.health.models import HealthRun

    if cold:
        HealthRun.objects.all().delete()
    t0 = time.perf_counter()
    run = services.health_run_request(actor=owner)
    done = services.health_run_compute(run_id=run.pk)
    assert done.state == "done", done.problem
    return time.perf_counter() - t0, done.account_count


def _read(owner) -> tuple[float, dict]:
    from strongroom.health import selectors

    t0 = time.perf_counter()
    report = selectors.health_report(actor=owner)
    return time.perf_counter() - t0, dict(report.counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--alloc-up-to",
        type=int,
        default=1000,
        help="measure peak allocation (tracemalloc: slows the run) up to this many accounts",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-health-") as data_dir:
        _setup(data_dir)
        from django.db import connection

        print(f"Password health run, {connection.vendor}, medians of {args.runs} runs")
        print(
            f"{'accounts':>9} | {'floor: decrypt all':>18} | {'first run':>9} | "
            f"{'per account':>11} | {'next run':>9} | {'next/floor':>10} | "
            f"{'read report':>11} | {'peak alloc':>10} | findings"
        )
        for n in [int(s) for s in args.sizes.split(",")]:
            owner = _seed(n)
            _breached(owner)
            floors, colds, warms, reads = [], [], [], []
            counts: dict = {}
            for _ in range(args.runs):
                floors.append(_floor())
                colds.append(_run(owner, cold=True)[0])
                warms.append(_run(owner, cold=False)[0])
                seconds, counts = _read(owner)
                reads.append(seconds)
            peak = float("nan")
            if n <= args.alloc_up_to:
                tracemalloc.start()
                _run(owner, cold=True)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            floor, cold, warm, read = (statistics.median(x) for x in (floors, colds, warms, reads))
            print(
                f"{n:>9,} | {floor * 1000:>15.0f} ms | {cold:>7.2f} s | "
                f"{cold / n * 1000:>8.2f} ms | {warm:>7.2f} s | {warm / floor:>9.1f}x | "
                f"{read * 1000:>8.0f} ms | {peak / 2**20:>7.1f} MiB | {counts}"
            )
            print(f"  (load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
