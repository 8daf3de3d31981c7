"""Where one password retrieval spends its time: N retrievals in process (Django's test
client, the real middleware, API and services, SQLite in a private data directory or
STRONGROOM_DATABASE_URL) under cProfile, with the SQL statements counted per retrieval.

    python bench/retrieval_profile.py [--requests 300] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (tottime …)")
    args = parser.parse_args(argv)
    os.environ.setdefault("STRONGROOM_DATA_DIR", tempfile.mkdtemp(prefix="strongroom-prof-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "strongroom.config.settings"
    os.environ.setdefault("STRONGROOM_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(BENCH))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from strongroom.accounts.services import REAUTH_TRUSTED, api_token_create, user_create
    from strongroom.core import keys
    from strongroom.vault.services import account_create, resource_create

    keys.verify()
    user = user_create(
        actor=None, username="prof", password="Bench-password-0123", role="password_admin"
    )
    raw = api_token_create(user=user, name="prof", reauth=REAUTH_TRUSTED).raw
    res = resource_create(actor=user, name="prof server", resource_type="server", host="10.0.0.1")
    acc = account_create(actor=user, resource_id=res.pk, username="root", password="S3cr3t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1")
    url = f"/api/v1/accounts/{acc.pk}/password"
    body = json.dumps({"reason": "profile"})

    def one() -> None:
        resp = client.post(url, body, content_type="application/json")
        if resp.status_code != 200:
            raise SystemExit(f"retrieval answered {resp.status_code}: {resp.content[:200]!r}")

    for _ in range(20):  # warm caches, imports and the connection
        one()
    with CaptureQueriesContext(connection) as queries:
        one()
    print(f"SQL statements per retrieval: {len(queries.captured_queries)}")
    for q in queries.captured_queries:
        print(f"  {float(q['time']) * 1000:6.2f} ms  {q['sql'][:150]}")
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for _ in range(args.requests):
        one()
    profiler.disable()
    elapsed = time.perf_counter() - t0
    print(
        f"\n{args.requests} retrievals in {elapsed:.2f} s under the profiler = "
        f"{elapsed / args.requests * 1000:.2f} ms each (load {os.getloadavg()[0]:.2f})\n"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
