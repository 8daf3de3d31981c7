"""The resources list page with 100,000 accounts: first-page time, query count, memory.

Builds a private database (SQLite in a temporary data directory, or a PostgreSQL test
database when STRONGROOM_DATABASE_URL points at PostgreSQL; STRONGROOM_TEST_DATABASE_NAME
names it) holding 25,000 resources with 4 accounts each. The people and the handful of
resource groups are made through the real, audited services; the 100,000 accounts, their
resources and the shares are bulk-inserted by this benchmark's own set-up, because creating
them one by one through the audited services (one hash-chained audit record each) would take
far longer than the measurement. Every password and note is still sealed properly with
``core.secrets.seal_into`` (AES-256-GCM under the data key, bound to its row and field), so
the rows are exactly what the services would have written; the visibility table that the
services keep current (vault.visibility) is worked out once from them, as its migration
does.

Who sees what:

* ``owner`` (Password Administrator) owns every resource: 25,000 rows visible.
* ``reader`` (Password User) reaches 90% of them: a third by direct shares, a third by a
  share to a user group they belong to, and the rest through resource groups shared with
  them; the remaining 10% they cannot see at all.
* ``nobody`` (Password User) has no share at all: an empty list, which must not cost a walk
  over every resource to find out.

Then it renders the web UI's resources list page (``vault:resource_list``, the HTML view,
through Django's test client: routing, session, middleware, templates) several times for
each case and prints, per case: the median and worst time, the number of SQL queries, the
page size, and the peak Python memory allocated while rendering (tracemalloc). The process's
peak RSS (which includes the data set-up) is printed under the table.

Every case is timed in turns (one request of each case, then the next round), so that a
shared machine's load, which comes and goes, weighs on every row alike. Searches (``?q=``)
are measured three ways, next to two floors taken in the same run: the
page, the search selector alone (``selectors.resources_keyset_page`` with the search, the
two queries that choose the page: count and page rows), and the database's own match step
alone (the search index lookup, vault.search). The floors are a bare Django view
(``/livez``, no database) and one resource's page for the reader (the same session,
middleware and layout around a few indexed lookups). The machine is shared and noisy:
compare a row with the floors of the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent

TYPES = ["Linux", "Windows", "Network device", "Database", "Web site", "Firewall", "Cloud"]
DEPARTMENTS = ["IT", "Finance", "Operations", "Sales", "Engineering", "Support", "HR", "Legal"]
PREFIXES = ["web", "db", "app", "fw", "sw", "vpn", "mail", "dc", "file", "backup", "k8s", "lb"]
SITES = ["lon", "par", "ber", "nyc", "sfo", "sin", "syd", "tor", "ams", "mad"]
# 'db-par': ~200 resources by name and host; 'user3': the fourth account of every resource
# (by username); 'Ber-00012': one resource, in another case; 'db': two characters, which no
# trigram index serves. The two broad ones are counted up to 1,000 ("1,000+",
# vault.selectors.SEARCH_COUNT_MAX).
SEARCHES = ["db-par", "user3", "Ber-00012", "db"]


def _setup_django() -> None:
    os.environ.setdefault("STRONGROOM_DATA_DIR", tempfile.mkdtemp(prefix="strongroom-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    os.environ.setdefault("STRONGROOM_LOG_LEVEL", "WARNING")
    os.environ.setdefault("STRONGROOM_ARGON2_FAST", "1")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def seed(*, resources: int, accounts_per: int, batch: int = 2000) -> dict[str, Any]:
    """Fill the (empty, migrated) database. Returns the people and a few IDs."""
    from django.db import connection

    from strongroom.accounts import services as people
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.vault import services as vault
    from strongroom.vault.models import AccessLevel, Account, Resource, ResourceGroup, Share

    keys.verify()
    rng = random.Random(20240601)  # fixed data set, not security
    password = "Bench-password-0123"
    owner = people.user_create(
        actor=None, username="owner", password=password, role="password_admin"
    )
    reader = people.user_create(
        actor=None, username="reader", password=password, role="password_user"
    )
    people.user_create(actor=None, username="nobody", password=password, role="password_user")
    team = people.user_group_create(actor=None, name="bench team")
    people.user_group_add_member(actor=None, group=team, user=reader)
    groups = [vault.resource_group_create(actor=owner, name=f"site {s}") for s in SITES]
    for group in groups:
        vault.share_grant(
            actor=owner, resource_group_id=group.pk, user_id=reader.pk, level=AccessLevel.MANAGE
        )

    through = ResourceGroup.resources.through
    for start in range(0, resources, batch):
        rows: list[Resource] = []
        for i in range(start, min(start + batch, resources)):
            site = SITES[i % len(SITES)]
            prefix = PREFIXES[rng.randrange(len(PREFIXES))]
            name = f"{prefix}-{site}-{i:06d}"
            rows.append(
                Resource(
                    owner=owner,
                    name=name,
                    resource_type=TYPES[rng.randrange(len(TYPES))],
                    host=f"{name}.corp.example",
                    url=f"https://{name}.corp.example/" if i % 4 == 0 else "",
                    department=DEPARTMENTS[rng.randrange(len(DEPARTMENTS))],
                    location=site,
                    description="Benchmark resource",
                )
            )
        Resource.objects.bulk_create(rows, batch_size=batch)
        accounts: list[Account] = []
        for resource in rows:
            for n in range(accounts_per):
                account = Account(resource=resource, username=f"user{n}")
                seal_into(account, "password", f"pw-{rng.getrandbits(64):016x}")
                if n == 0:
                    seal_into(account, "notes", "rotated quarterly")
                accounts.append(account)
        Account.objects.bulk_create(accounts, batch_size=batch)
        shares: list[Share] = []
        members: list[Any] = []
        for offset, resource in enumerate(rows):
            i = start + offset
            bucket = i % 10
            if bucket in (0, 1, 2):
                shares.append(Share(resource=resource, user=reader, level=AccessLevel.VIEW))
            elif bucket in (3, 4, 5):
                shares.append(Share(resource=resource, user_group=team, level=AccessLevel.MODIFY))
            elif bucket in (6, 7, 8):
                group = groups[i % len(groups)]
                members.append(through(resourcegroup_id=group.pk, resource_id=resource.pk))
            # bucket 9: the reader cannot see it
        Share.objects.bulk_create(shares, batch_size=batch)
        through.objects.bulk_create(members, batch_size=batch)
    try:
        from strongroom.vault.visibility import rebuild
    except ImportError:  # the code before the visibility table, for before/after figures
        pass
    else:
        # The bulk inserts above bypass the services, which keep the visibility table
        # current: work it out once, as the migration that created it does.
        rebuild()
    if connection.vendor == "postgresql":
        # What autovacuum would have done by the time anyone lists a vault this size: its
        # statistics (ANALYZE) and, since PostgreSQL 13, a VACUUM after this many inserts,
        # which also merges the GIN pending lists of the search indexes (vault.search).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    from strongroom.accounts.models import User

    nobody = User.objects.get(username="nobody")
    return {"owner": owner, "reader": reader, "nobody": nobody, "group": groups[0]}


def profile(client: Any, path: str, repeats: int) -> dict[str, Any]:
    """Queries, page size and peak Python allocation of one page (tracemalloc slows
    allocation-heavy code, so these runs are not timed)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm up (template loading, first connection)
    queries = size = peak = 0
    for _ in range(repeats):
        tracemalloc.start()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        queries = len(captured)
        size = len(response.content)
    return {"queries": queries, "kib": size / 1024, "peak_kib": peak / 1024}


def round_robin(calls: list[Any], repeats: int) -> list[tuple[float, float]]:
    """Median and worst wall time (ms) of each call, timed in turns (one of each, then the
    next round) so that the load of a shared machine, which comes and goes, weighs on every
    row alike instead of on whichever rows ran during a burst."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for i, call in enumerate(calls):
            t0 = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t) * 1000, max(t) * 1000) for t in times]


def search_parts(user: Any, texts: list[str], repeats: int) -> list[dict[str, Any]]:
    """The search selector alone and the index match alone, for each search text."""
    from strongroom.vault import selectors
    from strongroom.vault.models import Resource

    try:
        from strongroom.vault.search import resources_matching_q
    except ImportError:  # the code before the search index, for before/after figures
        from django.db.models import Q

        from strongroom.vault.models import Account

        def resources_matching_q(text: str) -> Q:
            fields = ("name", "host", "url", "resource_type", "department", "location")
            q = Q(description__icontains=text)
            for name in fields:
                q |= Q(**{f"{name}__icontains": text})
            usernames = Account.objects.filter(username__icontains=text).values("resource_id")
            return q | Q(pk__in=usernames)

    def page(text: str) -> Any:
        return selectors.resources_keyset_page(user=user, limit=50, search=text)

    def match(text: str) -> int:
        return Resource.objects.filter(resources_matching_q(text)).count()

    calls = [lambda t=text: page(t) for text in texts] + [lambda t=text: match(t) for text in texts]
    for call in calls:
        call()  # warm up
    timed = round_robin(calls, repeats)
    return [
        {
            "selector": timed[i],
            "match": timed[len(texts) + i],
            "matches": match(text),
            "visible": _total_text(page(text)),
        }
        for i, text in enumerate(texts)
    ]


def _total_text(page: Any) -> str:
    """A page's total as the list shows it: "1,000+" where a search's count stopped
    (``total_capped``, vault.selectors.SEARCH_COUNT_MAX)."""
    return f"{page.total:,}" + ("+" if getattr(page, "total_capped", False) else "")


def explain(client: Any, path: str) -> None:
    """Each SQL statement of one page view, its own time and the database's plan for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    for q in captured.captured_queries:
        sql = q["sql"]
        print(f"\n-- {float(q['time']) * 1000:.1f} ms: {sql[:3000]}")
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            # The captured text has its parameters inlined already (Django's last_executed_query).
            cursor.execute(prefix + sql)
            for row in cursor.fetchall():
                print("   ", " | ".join(str(c) for c in row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=25_000)
    parser.add_argument("--accounts-per-resource", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print each query of a first page with its time and query plan",
    )
    parser.add_argument(
        "--explain-search",
        nargs="?",
        const="db-par",
        default=None,
        metavar="TEXT",
        help="with --explain: a search (default 'db-par') instead of the first page",
    )
    parser.add_argument(
        "--explain-as",
        choices=["reader", "nobody", "owner"],
        default="reader",
        help="with --explain: whose page (default: the reader's)",
    )
    # bench/run.py hands every benchmark the same arguments; ignore the other ones' options.
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.repeats = 3

    _setup_django()
    import resource as rlimit

    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        t0 = time.perf_counter()
        info = seed(resources=args.resources, accounts_per=args.accounts_per_resource)
        seed_s = time.perf_counter() - t0
        from strongroom.vault.models import Account, Resource
        from strongroom.vault.views import resources as vault_views

        n_resources = Resource.objects.count()
        n_accounts = Account.objects.count()

        base = reverse("vault:resource_list")
        group = info["group"].pk
        middle = Resource.objects.order_by("name", "id").values_list("name", "pk")[
            min(10_000, n_resources // 2)
        ]
        after = vault_views._cursor_encode(middle)
        shared = Resource.objects.filter(shares__user=info["reader"]).order_by("name").first()
        assert shared is not None
        detail = reverse("vault:resource_detail", args=[shared.pk])
        cases = [
            ("reader", "floor: bare view /livez", reverse("livez")),
            ("reader", "floor: one resource's page", detail),
            ("owner", "first page (25k visible)", base),
            ("reader", "first page (90% shared)", base),
            ("nobody", "first page (sees nothing)", base),
            *[
                ("reader", f"search '{text}'", f"{base}?{urlencode({'q': text})}")
                for text in SEARCHES
            ],
            ("owner", "search 'db-par'", f"{base}?q=db-par"),
            ("reader", "type = Linux", f"{base}?type=Linux"),
            ("reader", "resource group filter", f"{base}?group={group}"),
            ("reader", "a page 10,000 rows in", f"{base}?after={after}"),
        ]
        clients: dict[str, Client] = {}
        for who in ("owner", "reader", "nobody"):
            clients[who] = Client(HTTP_HOST="127.0.0.1")
            clients[who].force_login(info[who])
        if args.explain:
            explain(
                clients[args.explain_as],
                f"{base}?{urlencode({'q': args.explain_search})}" if args.explain_search else base,
            )
        profiles = [profile(clients[who], path, 2) for who, _, path in cases]
        timed = round_robin(
            [lambda c=clients[who], p=path: c.get(p) for who, _, path in cases], args.repeats
        )
        rows = [
            (who, label, {**prof, "median_ms": t[0], "max_ms": t[1]})
            for (who, label, _), prof, t in zip(cases, profiles, timed, strict=True)
        ]
        parts = list(
            zip(SEARCHES, search_parts(info["reader"], SEARCHES, args.repeats), strict=True)
        )
        peak_rss_mib = rlimit.getrusage(rlimit.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    db = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(
        f"\nResources list page (HTML) — {db}, {n_resources:,} resources, {n_accounts:,} "
        f"accounts (set-up {seed_s:.0f} s); {args.repeats} runs per row\n"
    )
    print(
        f"| {'user':<6} | {'case':<26} | median ms | max ms | queries | page KiB | peak alloc KiB |"
    )
    print(f"|{'-' * 8}|{'-' * 28}|----------:|-------:|--------:|---------:|---------------:|")
    for who, label, r in rows:
        print(
            f"| {who:<6} | {label:<26} | {r['median_ms']:>9.1f} | {r['max_ms']:>6.1f} | "
            f"{r['queries']:>7} | {r['kib']:>8.1f} | {r['peak_kib']:>14.0f} |"
        )
    print(
        f"\nSearches as the reader, {args.repeats} runs each: the selector alone (count + page "
        "rows) and the index match alone\n"
    )
    print(f"| {'search':<14} | matches | visible | selector median ms | match median ms |")
    print(f"|{'-' * 16}|--------:|--------:|-------------------:|----------------:|")
    for text, part in parts:
        print(
            f"| {text!r:<14} | {part['matches']:>7,} | {part['visible']:>7} | "
            f"{part['selector'][0]:>18.1f} | {part['match'][0]:>15.1f} |"
        )
    print(f"\nprocess peak RSS (including set-up): {peak_rss_mib:.0f} MiB")
    slow = [r for _, _, r in rows if r["median_ms"] >= 1000]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
