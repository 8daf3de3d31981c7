"""A realistic demo vault, built through the real services (so it is audited like real use).

``demo_seed()`` is idempotent: the whole vault is created in one transaction the first time,
and later calls only report the demo admin's login. The demo logins are generated once and
kept in ``<data dir>/demo-admin.txt`` (mode 0600), so the same password works after restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
from django.conf import settings
from django.db import transaction

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.services.groups import user_group_add_member, user_group_create
from strongroom.accounts.services.users import user_create
from strongroom.core.errors import Conflict
from strongroom.vault.models import Resource
from strongroom.vault.services import (
    account_create,
    resource_create,
    resource_group_add_resource,
    resource_group_create,
    share_grant,
)

logger = logging.getLogger(__name__)

DEMO_ADMIN = "admin"
LOGIN_FILE_NAME = "demo-admin.txt"


@dataclass(frozen=True)
class DemoLogin:
    """The demo administrator's login, and the file that keeps every demo user's."""

    username: str
    password: str
    path: Path
    users: int

    @property
    def kept(self) -> str:
        """What the login file holds, in words (``serve --demo`` and ``demo`` print it)."""
        return (
            f"the logins of all {self.users} demo users (the administrator and one or more "
            f"per role; each sees only what is shared with them) are kept in {self.path}"
        )


# username, role, full name
USERS: list[tuple[str, str, str]] = [
    (DEMO_ADMIN, Role.ADMIN, "Demo Administrator"),
    ("alice", Role.PASSWORD_ADMIN, "Alice Martin"),
    ("bob", Role.PASSWORD_ADMIN, "Bob Nguyen"),
    ("carol", Role.PASSWORD_USER, "Carol Díaz"),
    ("dave", Role.PASSWORD_USER, "Dave Okafor"),
    ("erin", Role.PASSWORD_USER, "Erin Walsh"),
    ("oscar", Role.AUDITOR, "Oscar Lindqvist"),
]

# group name, description, members
USER_GROUPS: list[tuple[str, str, list[str]]] = [
    ("Infrastructure", "Data centre and network engineers", ["alice", "dave"]),
    ("Helpdesk", "First-line support", ["carol", "erin"]),
    ("Acme Corp team", "Engineers assigned to the Acme Corp contract", ["bob", "erin"]),
]

# resource group, owner, description
RESOURCE_GROUPS: list[tuple[str, str, str]] = [
    ("Datacenter FRA1", "alice", "Servers and hypervisors in Frankfurt rack A12"),
    ("Network", "alice", "Switches, firewalls, VPN and Wi-Fi"),
    ("Client: Acme Corp", "bob", "Managed-service client since 2021"),
    ("Client: Globex", "bob", "Managed-service client since 2023"),
    ("SaaS and services", DEMO_ADMIN, "Company-wide online accounts"),
]


@dataclass(frozen=True)
class _Res:
    group: str
    name: str
    resource_type: str
    host: str = ""
    url: str = ""
    description: str = ""
    department: str = ""
    location: str = ""
    custom_fields: dict[str, str] | None = None
    # username, notes, with a TOTP seed?
    accounts: tuple[tuple[str, str, bool], ...] = ()


_DC = "Datacenter FRA1"
_NET = "Network"
_ACME = "Client: Acme Corp"
_GLOBEX = "Client: Globex"
_SAAS = "SaaS and services"

# fmt: off
RESOURCES: list[_Res] = [
    _Res(
        _DC,
        "web-01.fra1.example.net",
        "Linux server",
        "10.10.1.11",
        description="Nginx front end, Debian 12",
        department="Operations",
        location="FRA1 rack A12 U10",
        accounts=(
            ("root", "Console only; SSH root login is disabled", False),
            ("deploy", "Used by the CI pipeline", False),
        ),
    ),
    _Res(
        _DC,
        "web-02.fra1.example.net",
        "Linux server",
        "10.10.1.12",
        description="Nginx front end, Debian 12",
        department="Operations",
        location="FRA1 rack A12 U11",
        accounts=(("root", "", False), ("deploy", "Used by the CI pipeline", False)),
    ),
    _Res(
        _DC,
        "db-01.fra1.example.net",
        "Database (PostgreSQL)",
        "10.10.2.21",
        description="Primary PostgreSQL 16",
        department="Operations",
        location="FRA1 rack A12 U14",
        custom_fields={"Port": "5432", "Replication": "streaming to db-02"},
        accounts=(
            ("postgres", "Superuser; break glass only", False),
            ("app_rw", "Application read/write role", False),
            ("app_ro", "Reporting read-only role", False),
        ),
    ),
    _Res(
        _DC,
        "db-02.fra1.example.net",
        "Database (PostgreSQL)",
        "10.10.2.22",
        description="Hot standby of db-01",
        department="Operations",
        location="FRA1 rack A12 U15",
        accounts=(("postgres", "", False),),
    ),
    _Res(
        _DC,
        "backup-01.fra1.example.net",
        "Linux server",
        "10.10.3.5",
        description="Borg backup target",
        department="Operations",
        location="FRA1 rack A13 U02",
        accounts=(("root", "", False), ("borg", "Append-only SSH key on clients", False)),
    ),
    _Res(
        _DC,
        "hv-01.fra1.example.net",
        "Hypervisor (VMware ESXi)",
        "10.10.0.5",
        department="Operations",
        location="FRA1 rack A12 U20",
        custom_fields={"Serial number": "CN7792ABCD", "Support contract": "ProSupport 4h"},
        accounts=(("root", "", False),),
    ),
    _Res(
        _DC,
        "hv-01 iDRAC",
        "Out-of-band management",
        "10.10.0.105",
        url="https://10.10.0.105",
        department="Operations",
        location="FRA1 rack A12 U20",
        accounts=(("root", "Change after every firmware update", False),),
    ),
    _Res(
        _DC,
        "ad-dc-01.corp.example.net",
        "Windows server",
        "10.10.4.10",
        description="Domain controller, Windows Server 2022",
        department="IT",
        location="FRA1 rack A13 U08",
        accounts=(
            ("CORP\\Administrator", "Tier-0 account", False),
            ("CORP\\svc_backup", "Backup service account", False),
        ),
    ),
    _Res(
        _DC,
        "ad-dc-02.corp.example.net",
        "Windows server",
        "10.10.4.11",
        description="Domain controller, Windows Server 2022",
        department="IT",
        location="FRA1 rack A13 U09",
        accounts=(("CORP\\Administrator", "", False),),
    ),
    _Res(
        _DC,
        "vCenter",
        "Application",
        "vcenter.fra1.example.net",
        url="https://vcenter.fra1.example.net/ui",
        department="Operations",
        accounts=(("administrator@vsphere.local", "SSO domain admin", False),),
    ),
    _Res(
        _NET,
        "core-sw-01",
        "Network device (Cisco Catalyst 9300)",
        "10.0.0.2",
        department="Network",
        location="FRA1 rack A12 U42",
        custom_fields={"Serial number": "FCW2231L0AB", "IOS-XE": "17.9.4"},
        accounts=(("admin", "Enable secret is the same as the password", False),),
    ),
    _Res(
        _NET,
        "core-sw-02",
        "Network device (Cisco Catalyst 9300)",
        "10.0.0.3",
        department="Network",
        location="FRA1 rack A13 U42",
        accounts=(("admin", "", False),),
    ),
    _Res(
        _NET,
        "fw-edge-01",
        "Firewall (FortiGate 100F)",
        "10.0.0.1",
        url="https://10.0.0.1:8443",
        department="Network",
        location="FRA1 rack A12 U41",
        accounts=(("admin", "Two-factor required on the web UI", True),),
    ),
    _Res(
        _NET,
        "vpn.example.net",
        "VPN gateway",
        "vpn.example.net",
        url="https://vpn.example.net",
        department="Network",
        accounts=(("vpnadmin", "", True),),
    ),
    _Res(
        _NET,
        "Office Wi-Fi (HQ)",
        "Wi-Fi",
        description="WPA2-Enterprise fallback PSK",
        department="IT",
        location="HQ, all floors",
        accounts=(("", "SSID: ExampleCorp", False),),
    ),
    _Res(
        _NET,
        "Guest Wi-Fi (HQ)",
        "Wi-Fi",
        description="Rotated monthly",
        department="IT",
        location="HQ reception",
        accounts=(("", "SSID: ExampleCorp-Guest", False),),
    ),
    _Res(
        _NET,
        "ups-01",
        "Power (APC Smart-UPS)",
        "10.0.0.50",
        url="http://10.0.0.50",
        department="Facilities",
        location="FRA1 rack A12 U01",
        accounts=(("apc", "Network management card", False),),
    ),
    _Res(
        _ACME,
        "Acme Corp: Microsoft 365",
        "Cloud account",
        url="https://admin.microsoft.com",
        department="Client services",
        custom_fields={"Tenant": "acmecorp.onmicrosoft.com"},
        accounts=(
            ("admin@acmecorp.onmicrosoft.com", "Global admin; break glass", True),
            ("helpdesk@acmecorp.onmicrosoft.com", "User administrator", False),
        ),
    ),
    _Res(
        _ACME,
        "Acme Corp: domain controller",
        "Windows server",
        "192.168.10.10",
        department="Client services",
        location="Acme HQ, server room",
        accounts=(("ACME\\Administrator", "", False),),
    ),
    _Res(
        _ACME,
        "Acme Corp: firewall",
        "Firewall (pfSense)",
        "192.168.10.1",
        url="https://192.168.10.1",
        department="Client services",
        accounts=(("admin", "", False),),
    ),
    _Res(
        _ACME,
        "Acme Corp: NAS",
        "Storage (Synology DS920+)",
        "192.168.10.20",
        url="https://192.168.10.20:5001",
        department="Client services",
        accounts=(("admin", "Hyper Backup encryption key in notes of the vault copy", False),),
    ),
    _Res(
        _ACME,
        "Acme Corp: ERP",
        "Application",
        "erp.acme.example",
        url="https://erp.acme.example",
        department="Client services",
        accounts=(
            ("sa", "SQL Server sa account", False),
            ("erp_admin", "Vendor support uses this", False),
        ),
    ),
    _Res(
        _GLOBEX,
        "Globex: AWS account",
        "Cloud account",
        url="https://globex.signin.aws.amazon.com/console",
        department="Client services",
        custom_fields={"Account ID": "123456789012"},
        accounts=(
            ("root@globex.example", "Root user: hardware key in the safe", True),
            ("ops-admin", "IAM user for the MSP", True),
        ),
    ),
    _Res(
        _GLOBEX,
        "Globex: web site",
        "Web site (WordPress)",
        url="https://www.globex.example/wp-admin",
        department="Client services",
        accounts=(("admin", "", False), ("editor", "Marketing team", False)),
    ),
    _Res(
        _GLOBEX,
        "Globex: router",
        "Network device",
        "203.0.113.7",
        department="Client services",
        accounts=(("admin", "", False),),
    ),
    _Res(
        _SAAS,
        "GitHub organisation",
        "Web site",
        url="https://github.com/example-corp",
        department="Engineering",
        accounts=(("example-ops", "Organisation owner", True),),
    ),
    _Res(
        _SAAS,
        "Domain registrar",
        "Web site",
        url="https://registrar.example.com",
        department="IT",
        accounts=(("hostmaster@example.net", "Auto-renew is on", True),),
    ),
    _Res(
        _SAAS,
        "Mail relay (SMTP)",
        "Application",
        "smtp.example.net",
        description="Port 587, STARTTLS",
        department="IT",
        accounts=(("relay@example.net", "", False),),
    ),
    _Res(
        _SAAS,
        "Monitoring (Grafana)",
        "Web site",
        url="https://grafana.example.net",
        department="Operations",
        accounts=(("admin", "", False),),
    ),
    _Res(
        _SAAS,
        "Backup repository passphrase",
        "Encryption key",
        description="Borg repository key for backup-01",
        department="Operations",
        accounts=(("borg-repo", "Without it the backups cannot be restored", False),),
    ),
]

# target (resource group name, or "resource:<name>"), grantee ("user:x" or "group:x"), level
SHARES: list[tuple[str, str, str]] = [
    (_DC, "group:Infrastructure", "modify"),
    (_NET, "group:Infrastructure", "manage"),
    (_ACME, "group:Acme Corp team", "modify"),
    (_GLOBEX, "user:erin", "view"),
    (_SAAS, "group:Helpdesk", "view"),
    (_SAAS, "user:alice", "modify"),
    ("resource:Office Wi-Fi (HQ)", "user:carol", "view"),
    ("resource:Guest Wi-Fi (HQ)", "group:Helpdesk", "view"),
]


LOGIN_FILE_HEADER = (
    "# Strongroom demo logins of every demo user (not only the administrator), one per line:\n"
    "# username<TAB>password<TAB>role. Generated once for this data directory.\n"
    "# Each user sees what they own and what is shared with them, the administrator too:\n"
    "# sign in as another user to see the vault from that role.\n"
)


def login_file() -> Path:
    return Path(settings.DATA_DIR) / LOGIN_FILE_NAME


def _generated_password() -> str:
    return secrets.token_urlsafe(15)


def _load_or_create_logins(path: Path) -> dict[str, str]:
    """username -> password, generated once and kept in a 0600 file."""
    if path.exists():
        logins: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            username, _, password = line.partition("\t")
            logins[username] = password.split("\t")[0]
        if DEMO_ADMIN in logins:
            return logins
        path.unlink()
    logins = {username: _generated_password() for username, _, _ in USERS}
    text = LOGIN_FILE_HEADER + "".join(
        f"{username}\t{logins[username]}\t{role}\n" for username, role, _ in USERS
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return logins


def demo_seed() -> DemoLogin:
    """Seed the demo vault once; always return the demo admin's login."""
    from strongroom.storage.services import demo_enable_local_folder

    demo_enable_local_folder()  # cloud sync to <data dir>/cloud-sync works offline
    path = login_file()
    logins = _load_or_create_logins(path)
    login = DemoLogin(DEMO_ADMIN, logins[DEMO_ADMIN], path, users=len(logins))
    admin = User.objects.filter(username=DEMO_ADMIN).first()
    if admin is not None:
        if not admin.check_password(login.password):
            raise Conflict(
                f"a user named {DEMO_ADMIN!r} exists that the demo did not create (its "
                f"password is not the one in {path}); the demo was not seeded"
            )
        return login
    with transaction.atomic():
        _seed(logins)
    logger.info("seeded the demo vault with %d resources", Resource.objects.count())
    return login


def _seed(logins: dict[str, str]) -> None:
    users: dict[str, User] = {}
    admin = user_create(
        actor=None,
        username=DEMO_ADMIN,
        password=logins[DEMO_ADMIN],
        role=Role.ADMIN,
        full_name=USERS[0][2],
        email="admin@example.net",
    )
    users[DEMO_ADMIN] = admin
    for username, role, full_name in USERS[1:]:
        users[username] = user_create(
            actor=admin,
            username=username,
            password=logins[username],
            role=role,
            full_name=full_name,
            email=f"{username}@example.net",
        )

    groups: dict[str, UserGroup] = {}
    for name, description, members in USER_GROUPS:
        groups[name] = user_group_create(actor=admin, name=name, description=description)
        for member in members:
            user_group_add_member(actor=admin, group=groups[name], user=users[member])

    resource_groups: dict[str, Any] = {}
    owners: dict[str, User] = {}
    for name, owner_name, description in RESOURCE_GROUPS:
        owners[name] = users[owner_name]
        resource_groups[name] = resource_group_create(
            actor=owners[name], name=name, description=description
        )

    resources: dict[str, Resource] = {}
    for spec in RESOURCES:
        owner = owners[spec.group]
        resource = resource_create(
            actor=owner,
            name=spec.name,
            resource_type=spec.resource_type,
            host=spec.host,
            url=spec.url,
            description=spec.description,
            department=spec.department,
            location=spec.location,
            custom_fields=spec.custom_fields,
        )
        resources[spec.name] = resource
        resource_group_add_resource(
            actor=owner, resource_group_id=resource_groups[spec.group].pk, resource_id=resource.pk
        )
        for username, notes, with_totp in spec.accounts:
            account_create(
                actor=owner,
                resource_id=resource.pk,
                username=username,
                password=_generated_password(),
                notes=notes,
                totp_seed=pyotp.random_base32() if with_totp else None,
            )

    for target, grantee, level in SHARES:
        kind, _, grantee_name = grantee.partition(":")
        who: dict[str, Any] = (
            {"user_id": users[grantee_name].pk}
            if kind == "user"
            else {"user_group_id": groups[grantee_name].pk}
        )
        if target.startswith("resource:"):
            resource = resources[target.removeprefix("resource:")]
            share_grant(actor=resource.owner, resource_id=resource.pk, level=level, **who)
        else:
            share_grant(
                actor=owners[target],
                resource_group_id=resource_groups[target].pk,
                level=level,
                **who,
            )
