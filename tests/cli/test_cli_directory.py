"""`strongroom directory test` and `strongroom directory sync`, run for real against slapd."""

from __future__ import annotations

from directory.conftest import slapd  # noqa: F401 - the session's slapd fixture
from directory.slapd_server import (
    GROUPS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    STAFF,
    USER_FILTER,
    user_dn,
)

CONFIGURE = """
import os
from strongroom.directory.models import DirectoryAccount
from strongroom.directory.services import directory_config
from strongroom.core.secrets import seal_into
from strongroom.accounts.services import user_create
c = directory_config()
c.enabled = True
c.server_urls = os.environ["URL"]
c.ca_bundle = os.environ["CA"]
c.bind_dn = os.environ["BIND_DN"]
seal_into(c, "bind_password", os.environ["BIND_PW"])
c.user_search_base = os.environ["PEOPLE"]
c.user_filter = os.environ["FILTER"]
c.group_search_base = os.environ["GROUPS"]
c.allowed_group_dn = os.environ["STAFF"]
c.save()
for name in ("alice", "dave"):
    u = user_create(actor=None, username=name, password="unused-Pw-12345")
    u.set_unusable_password()
    u.save()
    DirectoryAccount.objects.create(user=u, dn=os.environ["DN_" + name])
"""

ACTIVE = """
from strongroom.accounts.models import User
result = dict(User.objects.values_list("username", "is_active"))
"""


def test_directory_test_and_sync_commands(migrated, slapd):  # noqa: F811
    env = {
        "URL": slapd.ldaps_url,
        "CA": slapd.ca_pem,
        "BIND_DN": SERVICE_DN,
        "BIND_PW": SERVICE_PASSWORD,
        "PEOPLE": PEOPLE,
        "FILTER": USER_FILTER,
        "GROUPS": GROUPS,
        "STAFF": STAFF,
        "DN_alice": user_dn("alice"),
        "DN_dave": user_dn("dave"),
    }
    migrated.script(CONFIGURE, env=env)

    probe = migrated.ok("directory", "test", "--user", "alice")
    assert "service bind OK" in probe.stdout
    assert STAFF.lower() in probe.stdout
    missing = migrated.run("directory", "test", "--user", "*")
    assert missing.returncode == 1 and "not found" in missing.stdout

    synced = migrated.ok("directory", "sync")
    # dave is in the directory but not in staff: deactivated; alice (nested member) kept.
    assert "2 directory users checked, 1 deactivated, 1 kept" in synced.stdout
    assert migrated.script(ACTIVE) == {"alice": True, "dave": False}
    assert SERVICE_PASSWORD not in synced.stdout + synced.stderr + probe.stderr
