"""The `strongroom` command, run for real in subprocesses: exit codes, messages, effects."""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, free_port
from strongroom.crypto import envelope
from strongroom.vault import demo

pytestmark = pytest.mark.db_specific

EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 1, 2, 3


def test_help_lists_every_command(inst):
    done = inst.ok("--help")
    for command in (
        "serve",
        "web",
        "worker",
        "migrate",
        "createadmin",
        "demo",
        "import",
        "favourite",
        "key",
        "audit",
        "check",
    ):
        assert command in done.stdout
    assert inst.run("no-such-command").returncode == EXIT_USAGE


def test_check_before_and_after_migrate(inst):
    before = inst.run("check")
    assert before.returncode == EXIT_CONFIG
    assert "migrations are not applied" in before.stdout
    assert "run: strongroom migrate" in before.stdout

    inst.ok("migrate")
    after = inst.ok("check")
    assert "ok      database" in after.stdout
    assert "all migrations are applied" in after.stdout
    assert "opens all" in after.stdout
    # The first start creates the key file, 0600.
    key_file = inst.data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_check_reports_an_unreachable_redis(migrated):
    done = migrated.run("check", env={"STRONGROOM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert done.returncode == EXIT_CONFIG
    assert "Redis at 127.0.0.1" in done.stdout
    assert "cannot be reached" in done.stdout


def test_check_refuses_a_public_url_with_a_path(migrated):
    done = migrated.run("check", env={"STRONGROOM_PUBLIC_URL": "https://vault.example.com/pm"})
    assert done.returncode == EXIT_CONFIG
    assert "must be the site root" in done.stdout


def test_production_mode_without_a_secret_key_is_a_configuration_error(migrated):
    done = migrated.run(
        "check",
        env={"STRONGROOM_MODE": "production", "STRONGROOM_PUBLIC_URL": "https://v.example.com"},
    )
    assert done.returncode == EXIT_CONFIG
    assert "STRONGROOM_SECRET_KEY is required in production mode" in done.stderr
    assert "Traceback" not in done.stderr


def test_createadmin_from_a_password_file_and_stdin(migrated, tmp_path):
    pw_file = tmp_path / "pw"
    pw_file.write_text(LOGIN_PASSWORD + "\n")
    done = migrated.ok("createadmin", "alice", "--password-file", str(pw_file))
    assert "administrator alice created" in done.stdout

    again = migrated.run("createadmin", "ALICE", "--password-file", str(pw_file))
    assert again.returncode == EXIT_FAILED
    assert "already exists" in again.stderr

    weak = migrated.run("createadmin", "bob", "--password-file", "-", input="password\n")
    assert weak.returncode == EXIT_FAILED
    assert "password refused" in weak.stderr

    migrated.ok("createadmin", "bob", "--password-file", "-", input=LOGIN_PASSWORD + "\n")
    roles = migrated.script(
        """
        import os
        from strongroom.accounts.models import User
        pw = os.environ["CHECK_PASSWORD"]
        result = {u.username: [u.role, u.check_password(pw)] for u in User.objects.all()}
        """,
        env={"CHECK_PASSWORD": LOGIN_PASSWORD},
    )
    assert roles == {"alice": ["admin", True], "bob": ["admin", True]}


def _converse(proc, master: int, script: list[tuple[str, str]], timeout: float = 60) -> str:
    """Answer prompts on a pseudo-terminal: wait for each prompt, then type the answer."""
    import select

    seen = ""
    deadline = time.monotonic() + timeout
    for prompt, answer in script:
        while prompt not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no prompt {prompt!r}; got {seen!r}"
            ready, _, _ = select.select([master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(master, 1024)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"terminal closed before {prompt!r}; got {seen!r}"
                seen += chunk.decode(errors="replace")
        seen = seen.split(prompt, 1)[1]
        os.write(master, answer.encode() + b"\n")
    return seen


def test_createadmin_asks_for_the_password_twice_on_a_terminal(migrated):
    master, slave = os.openpty()  # a real pseudo-terminal, as an operator's shell has
    try:
        proc = subprocess.Popen(
            migrated.argv("createadmin", "dana"),
            env=migrated.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        _converse(
            proc, master, [("Password for dana: ", LOGIN_PASSWORD), ("Again: ", LOGIN_PASSWORD)]
        )
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    created = migrated.script(
        """
        import os
        from strongroom.accounts.models import User
        user = User.objects.get(username="dana")
        result = [user.role, user.check_password(os.environ["PW"])]
        """,
        env={"PW": LOGIN_PASSWORD},
    )
    assert created == ["admin", True]


def test_createadmin_without_a_terminal_needs_a_password_file(migrated):
    done = migrated.run("createadmin", "carol")
    assert done.returncode == EXIT_USAGE
    assert "--password-file" in done.stderr


def test_demo_seeds_once_and_keeps_the_admin_login(migrated):
    first = migrated.ok("demo")
    login_file = migrated.data_dir / "demo-admin.txt"
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    text = login_file.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    admin_password = lines[0].split("\t")[1]
    assert f"demo admin: admin / {admin_password}" in first.stdout
    # The file holds every demo user's login, and says so (issue 17, point 9).
    assert [ln.split("\t")[0] for ln in lines] == [u for u, _, _ in demo.USERS]
    assert "every demo user (not only the administrator)" in text
    assert f"the logins of all {len(lines)} demo users" in first.stdout
    assert str(login_file) in first.stdout

    second = migrated.ok("demo")
    assert f"demo admin: admin / {admin_password}" in second.stdout

    counts = migrated.script(
        """
        import os
        from strongroom.accounts.models import User, UserGroup
        from strongroom.vault.models import Account, Resource, ResourceGroup, Share
        roles = sorted({u.role for u in User.objects.all()})
        result = {
            "users": User.objects.count(), "roles": roles,
            "groups": UserGroup.objects.count(), "resources": Resource.objects.count(),
            "types": len(set(Resource.objects.values_list("resource_type", flat=True))),
            "accounts": Account.objects.count(), "rgroups": ResourceGroup.objects.count(),
            "shares": Share.objects.count(),
            "admin_ok": User.objects.get(username="admin").check_password(os.environ["PW"]),
        }
        """,
        env={"PW": admin_password},
    )
    assert counts["roles"] == ["admin", "auditor", "password_admin", "password_user"]
    assert counts["users"] >= 6
    assert counts["groups"] >= 3
    assert 28 <= counts["resources"] <= 35
    assert counts["types"] >= 10
    assert counts["accounts"] > counts["resources"]
    assert counts["rgroups"] >= 4
    assert counts["shares"] >= 6
    assert counts["admin_ok"] is True
    # Built through the real services, so it is all audited and the chain is intact.
    verified = migrated.ok("audit", "verify")
    assert verified.stdout.startswith("OK: ")


def test_import_prints_the_report_and_fails_cleanly_on_bad_rows(migrated, tmp_path):
    pw_file = tmp_path / "pw"
    pw_file.write_text(LOGIN_PASSWORD)
    migrated.ok("createadmin", "importer", "--password-file", str(pw_file))
    good = tmp_path / "good.csv"
    good.write_text(
        "resource_name,resource_type,host,url,department,location,description,"
        "username,password,notes,totp_seed\n"
        "web-01,Linux,10.0.0.1,,Ops,FRA1,front end,root,s3cret-one,,\n"
        "web-01,,,,,,,deploy,s3cret-two,ci only,\n"
        "router,Network,10.0.0.254,,Ops,FRA1,,admin,s3cret-three,,\n"
    )
    done = migrated.ok("import", str(good), "--format", "strongroom", "--user", "importer")
    assert "3 entries read from" in done.stdout
    assert "imported 3 accounts into 2 new resources" in done.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "resource_name,resource_type,host,url,department,location,description,"
        "username,password,notes,totp_seed\n"
        "ok-row,Linux,,,,,,u,p,,\n"
        ",Linux,,,,,,u,p,,\n"
    )
    failed = migrated.run("import", str(bad), "--format", "strongroom", "--user", "importer")
    assert failed.returncode == EXIT_FAILED
    assert f"import of {bad} refused, nothing was imported: 1 problem\n" in failed.stderr
    assert "row 3" in failed.stderr
    assert "resource_name" in failed.stderr

    nobody = migrated.run("import", str(good), "--format", "bitwarden", "--user", "ghost")
    assert nobody.returncode == EXIT_FAILED
    assert "no active user named 'ghost'" in nobody.stderr

    count = migrated.script(
        "from strongroom.vault.models import Resource\nresult = Resource.objects.count()"
    )
    assert count == 2


def test_audit_verify_reports_an_edited_record(demo):
    assert demo.ok("audit", "verify").stdout.startswith("OK: ")
    demo.script(
        """
        from strongroom.audit.models import AuditEvent
        AuditEvent.objects.filter(seq=3).update(object_name="someone else")
        AuditEvent.objects.filter(seq=7).delete()
        """
    )
    done = demo.run("audit", "verify")
    assert done.returncode == EXIT_FAILED
    assert "PROBLEM: record 3 was edited" in done.stdout
    assert "records 7..7 are missing" in done.stdout


@pytest.mark.parametrize("command", ["check", "serve", "web", "worker"])
def test_a_wrong_master_key_stops_every_server_before_it_serves(demo, command):
    right = envelope.parse_master_key((demo.data_dir / "master.key").read_text())
    wrong = envelope.new_key()
    port = free_port()
    args = [command] + (["--port", str(port)] if command in {"serve", "web"} else [])
    done = demo.run(
        *args, env={"STRONGROOM_MASTER_KEY": envelope.format_master_key(wrong)}, timeout=120
    )
    assert done.returncode == EXIT_CONFIG, (done.stdout, done.stderr)
    output = done.stdout + done.stderr
    assert envelope.key_id(right) in output
    assert envelope.key_id(wrong) in output
    assert "wrong master key" in output
    assert "Traceback" not in output
    assert envelope.format_master_key(wrong) not in output


@pytest.mark.parametrize("command", ["check", "serve", "worker"])
def test_a_missing_key_file_stops_every_server_and_no_key_is_made(demo, command):
    key_file = demo.data_dir / "master.key"
    key_file.rename(demo.data_dir / "elsewhere.key")
    args = [command] + (["--port", str(free_port())] if command == "serve" else [])
    done = demo.run(*args, timeout=120)
    assert done.returncode == EXIT_CONFIG
    assert "is missing" in done.stdout + done.stderr
    assert not key_file.exists()


def test_a_failing_key_command_stops_the_server(migrated):
    done = migrated.run(
        "serve", "--port", str(free_port()), env={"STRONGROOM_MASTER_KEY_COMMAND": "false"}
    )
    assert done.returncode == EXIT_CONFIG
    assert "exited with status 1" in done.stderr
