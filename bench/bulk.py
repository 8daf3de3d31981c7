"""What a bulk action at the selection limit costs: each action (share, add to group, move,
delete, and the check alone) on N resources in process through the services, SQLite in a
private data directory or STRONGROOM_DATABASE_URL; and the recently used list for a user
with R retrievals in the audit trail. One transaction per action holds the audit chain's
head lock for its whole run: this is the figure behind vault.bulk.MAX_SELECTION.

    python bench/bulk.py [--resources 500] [--retrievals 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--retrievals", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("STRONGROOM_DATA_DIR", tempfile.mkdtemp(prefix="strongroom-bulk-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "strongroom.config.settings"
    os.environ.setdefault("STRONGROOM_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(BENCH))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from strongroom.accounts.services import user_create
    from strongroom.core import keys
    from strongroom.vault import bulk, favourites
    from strongroom.vault.models import AccessLevel
    from strongroom.vault.services import (
        account_create,
        password_retrieve,
        resource_create,
        resource_group_create,
    )

    keys.verify()
    owner = user_create(actor=None, username="owner", password="Bench-pw-0123", role="admin")
    peer = user_create(actor=None, username="peer", password="Bench-pw-0123", role="password_user")
    ids = []
    for i in range(args.resources):
        resource = resource_create(
            actor=owner, name=f"bulk-{i:05d}", host=f"10.0.{i // 250}.{i % 250}"
        )
        if i == 0:
            account = account_create(
                actor=owner, resource_id=resource.pk, username="root", password="pw"
            )
        ids.append(resource.pk)
    first = resource_group_create(actor=owner, name="First")
    second = resource_group_create(actor=owner, name="Second")

    def timed(label: str, run: object) -> None:
        start = time.perf_counter()
        result = run()  # type: ignore[operator]
        ms = (time.perf_counter() - start) * 1000
        changed = len(getattr(result, "changed", result) or [])
        print(f"| {label} | {len(ids)} | {changed} | {ms:,.0f} |")

    print(f"database: {connection.vendor}")
    print("| action | selected | changed | ms |")
    print("|---|---:|---:|---:|")
    timed(
        "check only (manage on each)",
        lambda: bulk.selection_resources(
            actor=owner, resource_ids=ids, min_level=AccessLevel.MANAGE, what="checked"
        ),
    )
    timed(
        "share with a user",
        lambda: bulk.resources_bulk_share(
            actor=owner, resource_ids=ids, user_id=peer.pk, level="view"
        ),
    )
    timed(
        "add to group",
        lambda: bulk.resources_bulk_group_add(
            actor=owner, resource_ids=ids, resource_group_id=first.pk
        ),
    )
    timed(
        "move to another group",
        lambda: bulk.resources_bulk_move(
            actor=owner, resource_ids=ids, resource_group_id=second.pk
        ),
    )

    for _ in range(args.retrievals):
        password_retrieve(actor=owner, account_id=account.pk, reason="bench")
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        favourites.recent_list(user=owner)
        runs.append((time.perf_counter() - start) * 1000)
    runs.sort()
    print(
        f"| recently used list ({args.retrievals} retrievals in the trail), median of 20 "
        f"| - | - | {runs[len(runs) // 2]:,.1f} |"
    )
    timed("delete", lambda: bulk.resources_bulk_delete(actor=owner, resource_ids=ids))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
