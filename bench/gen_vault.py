#!/usr/bin/env python3
# Copied verbatim (below this comment) from the shared benchmark kit, /work/shared/bench/gen_vault.py,
# so the offline-file benchmark and tests have the standard vault without that folder.
# ruff: noqa: SIM905  (kept verbatim)
"""Deterministic synthetic password vault.

usage: gen_vault.py N OUT.json [--seed S]

Writes OUT.json  {"format": "bench-vault/1", "seed": S, "count": N, "entries": [...]}
and    OUT.csv   (same rows, same column order, UTF-8, RFC 4180 quoting).

Each entry: name, type, url, username, password, notes, folder.
Passwords are 16-32 chars and always contain a quote, one of < > &, another
symbol, and (in about half of them) non-ASCII text, so HTML/JS/CSV escaping is
exercised.  Notes are 0-200 chars and sometimes contain markup-like text
("</script>", "<!--", "]]>") and newlines.  Same N + seed => byte-identical files.
"""

import argparse
import csv
import json
import os
import random
import string

FIELDS = ["name", "type", "url", "username", "password", "notes", "folder"]
TYPES = [
    "website",
    "server-ssh",
    "database",
    "api-key",
    "email",
    "wifi",
    "vpn",
    "router",
    "cloud-console",
    "ftp",
    "certificate",
    "software-license",
]
WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
    "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu "
    "prod staging dev backup billing payroll crm erp wiki git ci monitor mail vpn core edge "
    "legacy east west north south primary replica archive"
).split()
TLDS = ["com", "net", "org", "io", "de", "fr", "co.uk", "internal", "local", "example"]
UNICODE_BITS = [
    "é",
    "ü",
    "ß",
    "ñ",
    "ø",
    "Ж",
    "λ",
    "密",
    "码",
    "日本",
    "ä",
    "€",
    "£",
    "🔑",
    "✓",
    "Ω",
]
PW_BASE = string.ascii_letters + string.digits + "!#$%()*+,-./:;=?@[]^_{|}~\\`"
PW_DANGER = "\"'<>&"
NOTE_SNIPPETS = [
    "</script>",
    "<!--",
    "-->",
    "]]>",
    "<b>bold</b>",
    "a & b",
    '"quoted"',
    "it's",
    "C:\\path\\to",
    "line1\nline2",
    "tab\there",
    "${not_a_template}",
    "{{mustache}}",
    "Grüße",
    "パスワード",
    "🙂",
]
FOLDERS_TOP = ["Work", "Personal", "Infrastructure", "Clients", "Shared", "Archive", "Finance"]


def _password(rng):
    n = rng.randint(16, 32)
    chars = [
        rng.choice(PW_DANGER),
        rng.choice("<>&"),
        rng.choice("!#$%*+-=?@^_~"),
        rng.choice(string.ascii_uppercase),
        rng.choice(string.digits),
    ]
    if rng.random() < 0.5:
        chars.append(rng.choice(UNICODE_BITS))
    while len(chars) < n:
        chars.append(rng.choice(PW_BASE + PW_DANGER))
    rng.shuffle(chars)
    return "".join(chars)[:n]  # multi-codepoint bits may overshoot by one


def _notes(rng):
    target = rng.choice([0, 0, rng.randint(1, 40), rng.randint(1, 200)])
    parts, length = [], 0
    while length < target:
        piece = rng.choice(NOTE_SNIPPETS) if rng.random() < 0.15 else rng.choice(WORDS)
        parts.append(piece)
        length += len(piece) + 1
    return " ".join(parts)[:target]


def make_entry(rng, i):
    w1, w2 = rng.choice(WORDS), rng.choice(WORDS)
    typ = rng.choice(TYPES)
    host = f"{w1}-{w2}{rng.randint(1, 999)}.{rng.choice(TLDS)}"
    if typ in ("website", "cloud-console", "api-key", "email"):
        url = f"https://{host}/" + rng.choice(
            ["", "login", "admin/", "app?tab=sec&x=1", "sso/start"]
        )
    elif typ in ("server-ssh", "ftp", "database", "router", "vpn"):
        url = f"{host}:{rng.choice([22, 21, 5432, 3306, 443, 1194, 8443])}"
    else:
        url = host
    user = rng.choice(
        [
            f"{rng.choice(WORDS)}.{rng.choice(WORDS)}",
            f"{rng.choice(WORDS)}{rng.randint(1, 99)}@{host}",
            "admin",
            "root",
            f"svc_{w1}",
            f"josé.{w2}",
            f"{w1}\\{w2}",
        ]
    )
    depth = rng.choice([1, 1, 2, 2, 3])
    folder = "/".join(
        [rng.choice(FOLDERS_TOP)] + [rng.choice(WORDS).capitalize() for _ in range(depth - 1)]
    )
    return {
        "name": f"{w1.capitalize()} {w2} {typ} #{i}",
        "type": typ,
        "url": url,
        "username": user,
        "password": _password(rng),
        "notes": _notes(rng),
        "folder": folder,
    }


def generate(n, seed=1337):
    rng = random.Random(f"bench-vault/{seed}/{n}")
    return [make_entry(rng, i) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()
    entries = generate(a.n, a.seed)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "format": "bench-vault/1",
                "seed": a.seed,
                "count": a.n,
                "fields": FIELDS,
                "entries": entries,
            },
            f,
            ensure_ascii=False,
            indent=None,
            separators=(",", ":"),
        )
    csv_path = os.path.splitext(a.out)[0] + ".csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        w.writerows(entries)
    print(
        f"wrote {a.n} entries -> {a.out} ({os.path.getsize(a.out)} B), {csv_path} ({os.path.getsize(csv_path)} B)"
    )


if __name__ == "__main__":
    main()
