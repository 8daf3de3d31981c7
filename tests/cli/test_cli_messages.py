"""CLI messages a person can act on (issue 17, point 8): a file the command could not read
is named; an unknown storage provider is called that, with the known ones listed."""

from __future__ import annotations

import pytest

from strongroom.storage.registry import provider_names

pytestmark = pytest.mark.db_specific  # commands that check the database first


def test_unknown_provider_lists_the_known_ones(migrated) -> None:
    for command in (
        ("sync", "--user", "nobody", "--to", "ftp"),
        ("host-key", "--user", "nobody", "--host", "127.0.0.1", "--provider", "ftp"),
    ):
        done = migrated.run(*command)
        assert done.returncode == 2, (command, done.stderr)
        assert "unknown provider 'ftp'; known providers: " in done.stderr
        listed = done.stderr.split("known providers: ", 1)[1].split(".", 1)[0].split(", ")
        assert listed == provider_names()
        assert {"local", "s3", "dropbox", "box", "webdav", "sftp"} <= set(listed)


def test_files_that_cannot_be_read_are_named(migrated, tmp_path) -> None:
    missing = tmp_path / "no-such-dir" / "secret.txt"
    not_text = tmp_path / "binary.txt"
    not_text.write_bytes(b"\xff\xfe\x00pw\n")
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    good = tmp_path / "pw.txt"
    good.write_text("Harbour-lantern-73-quietly\n", encoding="utf-8")
    migrated.ok("createadmin", "root", "--password-file", str(good))
    cases = [
        (("createadmin", "other", "--password-file", str(missing)), missing),
        (("createadmin", "other", "--password-file", str(not_text)), not_text),
        (("import", str(folder), "--format", "strongroom", "--user", "root"), folder),
        (("open", str(missing), "--passphrase-file", str(not_text)), missing),
    ]
    for command, path in cases:
        done = migrated.run(*command)
        assert done.returncode in (1, 2), (command, done.returncode, done.stderr)
        assert str(path) in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr
