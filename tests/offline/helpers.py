"""Shared data for the offline-file tests: hostile values, sample entries, cheap keys.

Tests that are not about the KDF use a few PBKDF2 iterations (``minimum_iterations=1``);
the builder refuses that unless told explicitly, which one test checks.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from strongroom.crypto.offline import CopyKeys, OfflineEntry, copy_keys_create
from strongroom.exports.offline_file import offline_file_build

PASSPHRASE = "correct horse battery staple ✓"
CHEAP_ITERATIONS = 1_000
GENERATED_AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
GEN_VAULT = Path(__file__).resolve().parents[2] / "bench" / "gen_vault.py"

TEN_KB = ("<script>alert('x')</script> =1+1 \u202e 🔐 ") * 300
HOSTILE = {
    "markup": "<img src=x onerror=alert(1)>",
    "script-close": "</script><script>alert(1)</script><!-- ]]> -->",
    "formula": "=cmd|' /C calc'!A0",
    "formula-variants": "+SUM(A1) -2+3 @IMPORT \t=1",
    "rtl": "\u202eexe.txt\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "emoji": "🔐👩‍💻🇺🇦 ключ 密码",
    "quotes-and-space": "  \"';--  \r\n\ttrailing  ",
    "controls": "nul\x00 bell\x07 esc\x1b[2J del\x7f c1\x9b line\u2028para\u2029",
    "template": "{{PAYLOAD}} {{SCRIPT}} ${x} {{CSP}}",
    "entities": "&lt;b&gt; &amp; &#x3C;script&#x3E; &quot;",
    "10kb": TEN_KB,
}
assert len(TEN_KB) >= 10 * 1024


def cheap_keys(passphrase: str = PASSPHRASE) -> CopyKeys:
    return copy_keys_create(
        passphrase=passphrase, iterations=CHEAP_ITERATIONS, minimum_iterations=1
    )


def build(
    keys: CopyKeys,
    entries: list[OfflineEntry],
    *,
    expires_at: datetime | None = None,
    generated_at: datetime = GENERATED_AT,
    title: str = "Acme IT",
    owner: str = "alice",
) -> bytes:
    return offline_file_build(
        copy_keys=keys,
        entries=entries,
        generated_at=generated_at,
        expires_at=expires_at,
        title=title,
        owner=owner,
        minimum_iterations=1,
    )


def sample_entries() -> list[OfflineEntry]:
    return [
        OfflineEntry(
            name="Core router",
            resource_type="router",
            host="rt1.acme.internal",
            url="https://rt1.acme.internal/admin",
            username="admin",
            password="S3cr3t<&>'\"!",
            notes="Rack 4, top\nSecond line",
            totp_seed="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            folder="Infrastructure/Network",
            department="IT",
            location="Berlin DC",
            updated_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        OfflineEntry(name="Payroll DB", username="svc_payroll", password="pw-2"),
        OfflineEntry(
            name="Mail",
            username="josé@example.org",
            password="Ünïcødé🔑",
            url="mail.example.org:993",
            folder="Work",
            totp_seed="otpauth://totp/Acme:jose?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&algorithm=SHA256&digits=8&period=60",
        ),
    ]


def hostile_entries() -> list[OfflineEntry]:
    """One entry per hostile value with it in every text field, plus one per field."""
    text_fields = [
        f.name
        for f in dataclasses.fields(OfflineEntry)
        if f.name not in {"updated_at", "custom_fields", "attachments"}
    ]
    entries = []
    for kind, value in HOSTILE.items():
        entries.append(
            OfflineEntry(
                **{name: value for name in text_fields},
                updated_at=GENERATED_AT - timedelta(days=1),
                custom_fields=((value, value), ("serial", value)),
            )
        )
        for name in text_fields:
            fields: dict[str, Any] = {"name": f"{kind} in {name}", "username": "u", "password": "p"}
            fields[name] = value
            entries.append(OfflineEntry(**fields))
        entries.append(
            OfflineEntry(
                name=f"{kind} in custom field", username="u", password="p",
                custom_fields=((value, value),),
            )
        )  # fmt: skip
    return entries


@cache
def gen_vault() -> ModuleType:
    """The shared synthetic vault generator (hostile characters in every field)."""
    spec = importlib.util.spec_from_file_location("gen_vault", GEN_VAULT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vault_entries(n: int, seed: int = 1337) -> list[OfflineEntry]:
    rows = gen_vault().generate(n, seed)
    return [
        OfflineEntry(
            name=row["name"],
            resource_type=row["type"],
            url=row["url"],
            host=row["url"].split("/")[2] if "://" in row["url"] else row["url"].split(":")[0],
            username=row["username"],
            password=row["password"],
            notes=row["notes"],
            folder=row["folder"],
            updated_at=GENERATED_AT - timedelta(minutes=i),
        )
        for i, row in enumerate(rows)
    ]
