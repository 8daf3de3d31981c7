"""The API against its own OpenAPI schema: schemathesis fuzzes every operation of a real
`strongroom web` process (gunicorn on 127.0.0.1), signed in as an administrator with an
API token. The bar: no 5xx answer, no status code, content type or body the schema does
not document (schemathesis's checks not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance).

negative_data_rejection is not part of the bar: pydantic's lax mode accepts a number for a
date-time (a Unix time) and 0/1 or "true" for a boolean, which that check reports. Bodies of
the wrong JSON type altogether are refused (tests/api/test_bounds.py).

The fuzzer must not lock itself out half-way (which would turn the rest of the run into a
stream of 401/403 answers that prove nothing). Schemathesis reuses IDs it saw in answers, so
it would find its own user (GET /me) and token (GET /me/tokens). The operations that act on
a user, a group or a token are therefore pinned to objects made for the purpose: a victim
user (reset password, reset 2FA, deactivate, change), a second victim that may be deleted,
a group and a second group that may be deleted, and a spare token of the administrator's
that may be revoked. The administrator itself is never a target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.helpers import StreamWatcher, free_port, make_installation, wait_until_http_ok

pytestmark = pytest.mark.slow

# Per operation: at most this many generated cases (a few minutes on two busy cores).
MAX_EXAMPLES = 5
SEED = 14

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)

SETUP = """
from strongroom.accounts.services import (
    REAUTH_TRUSTED, api_token_create, user_create, user_group_create,
)

admin = user_create(actor=None, username="fuzz-admin", password=PASSWORD, role="admin")
victim = user_create(actor=None, username="fuzz-victim", password=PASSWORD)
doomed = user_create(actor=None, username="fuzz-doomed", password=PASSWORD)
group = user_group_create(actor=admin, name="fuzz-group")
doomed_group = user_group_create(actor=admin, name="fuzz-doomed-group")
token = api_token_create(user=admin, name="fuzzer", reauth=REAUTH_TRUSTED)
spare = api_token_create(user=admin, name="spare", reauth=REAUTH_TRUSTED)
result = {
    "token": token.raw,
    "token_id": str(token.token.pk),
    "spare_token_id": str(spare.token.pk),
    "victim": str(victim.pk),
    "doomed": str(doomed.pk),
    "group": str(group.pk),
    "doomed_group": str(doomed_group.pk),
}
"""

CHECK_ADMIN = """
from strongroom.accounts.models import ApiToken, User

admin = User.objects.get(username="fuzz-admin")
token = ApiToken.objects.get(pk=TOKEN_ID)
result = {
    "active": admin.is_active,
    "role": admin.role,
    "must_change_password": admin.must_change_password,
    "token_revoked": token.revoked_at is not None,
}
"""


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _config(ids: dict[str, str]) -> str:
    """schemathesis.toml: pin the identity-changing operations to their targets.

    Each operation matches exactly one entry (path and method), so no two entries' values
    are merged."""
    entries = [
        # (path regex, method regex, parameters)
        (r"^/api/v1/users/\{user_id\}$", "^DELETE$", {"path.user_id": ids["doomed"]}),
        (r"^/api/v1/users/\{user_id\}$", "^(GET|PATCH)$", {"path.user_id": ids["victim"]}),
        (r"^/api/v1/users/\{user_id\}/", "^POST$", {"path.user_id": ids["victim"]}),
        (
            r"^/api/v1/user-groups/\{group_id\}/members/\{user_id\}$",
            "^DELETE$",
            {"path.group_id": ids["group"], "path.user_id": ids["victim"]},
        ),
        (r"^/api/v1/user-groups/\{group_id\}$", "^DELETE$", {"path.group_id": ids["doomed_group"]}),
        (r"^/api/v1/user-groups/\{group_id\}$", "^(GET|PATCH)$", {"path.group_id": ids["group"]}),
        (r"^/api/v1/user-groups/\{group_id\}/members$", ".", {"path.group_id": ids["group"]}),
        (r"^/api/v1/me/tokens/\{token_id\}$", ".", {"path.token_id": ids["spare_token_id"]}),
        # "Test connection" of a sign-in provider fetches its issuer's discovery document: a
        # fuzzed issuer is a host on the internet, so the fuzzer only ever names no provider.
        (
            r"^/api/v1/sso/providers/\{slug\}/test$",
            "^POST$",
            {"path.slug": "fuzz-no-such-provider"},
        ),
    ]
    lines = []
    for path_regex, method_regex, parameters in entries:
        lines += [
            "[[operations]]",
            f"include-path-regex = {_toml_string(path_regex)}",
            f"include-method-regex = {_toml_string(method_regex)}",
            "parameters = { "
            + ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in parameters.items())
            + " }",
            "",
        ]
    return "\n".join(lines)


# The operations that change or remove a user or a token: fuzzed in a run of their own.
IDENTITY_OPERATIONS = r"^/api/v1/(users/\{user_id\}|me/tokens/\{token_id\})"
# Sends an email now to the SMTP host the fuzzer just set (any name): never fuzzed, so no
# packet leaves 127.0.0.0/8 (tests/web/test_web_email.py tests it against a local server).
OUTBOUND_OPERATIONS = r"^/api/v1/email/settings/test$"


def _schemathesis(base: str, token: str, config: Path, *selection: str) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{base}/api/v1/openapi.json",
            *selection,
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--checks",
            CHECKS,
            # One worker: Python 3.11's ast module is not thread-safe, and Hypothesis
            # parses sources while describing strategies.
            "--workers",
            "1",
            "--no-shrink",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
        ],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.monotonic() - started
    print(f"schemathesis {' '.join(selection)}: {elapsed:.0f} s\n{done.stdout}")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-3000:]
    assert re.search(r"\d+ generated, \d+ passed", done.stdout), done.stdout[-3000:]
    return done.stdout, elapsed


def test_the_api_keeps_to_its_schema_under_fuzzing(tmp_path: Path) -> None:
    """Two runs. The first fuzzes every operation but those that change or remove a user or
    a token. Schemathesis reuses IDs it saw in answers, and an explicitly given parameter
    does not always win over them: in one trial it revoked its own token, whose ID GET
    /me/tokens shows. The second run fuzzes those operations alone, pinned to the victims;
    nothing it can call ever shows the administrator's or the token's ID, so it cannot find
    them."""
    inst, cleanup = make_installation(tmp_path)
    try:
        inst.ok("migrate")
        ids = inst.script(f"PASSWORD = 'Correct-horse-battery-staple-7'\n{SETUP}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The server may only reach loopback: the fuzzer sets issuer URLs, directory and SMTP
        # hosts and storage endpoints, and some operations connect to them (tests/netguard).
        guard = str(Path(__file__).resolve().parent.parent / "netguard")
        pythonpath = os.pathsep.join(
            p for p in (guard, inst.env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))) if p
        )
        web = inst.start(
            "web",
            "--port",
            str(port),
            "--workers",
            "1",
            "--threads",
            "4",
            env={"PYTHONPATH": pythonpath},
        )
        # gunicorn writes its access log to stdout and its own log to stderr: read both, or
        # a full pipe stalls the server.
        access_log = StreamWatcher(web.stdout)
        server_log = StreamWatcher(web.stderr)
        try:
            wait_until_http_ok(f"{base}/readyz", web)
            config = tmp_path / "schemathesis.toml"
            config.write_text(_config(ids))
            _, first = _schemathesis(
                base,
                ids["token"],
                config,
                "--exclude-path-regex",
                f"{IDENTITY_OPERATIONS}|{OUTBOUND_OPERATIONS}",
            )
            _, second = _schemathesis(
                base, ids["token"], config, "--include-path-regex", IDENTITY_OPERATIONS
            )
            # Every request the fuzzer sent, as the server logged it.
            sent = access_log.wait_for(lambda text: text.count('"schemathesis/') or None, 10)
            after = inst.script(f"TOKEN_ID = {ids['token_id']!r}\n{CHECK_ADMIN}")
        finally:
            web.terminate()
            web.wait(timeout=60)
    finally:
        cleanup()
    print(f"schemathesis: {sent} requests in {first + second:.0f} s; administrator: {after}")
    server_errors = re.findall(r'"[A-Z]+ /api/[^"]*" 5\d\d ', access_log.text)
    assert server_errors == [], server_errors[:20]
    assert "Traceback" not in server_log.text, server_log.text[-3000:]
    # The guard was in force (its refusals are logged; the server answered them as errors).
    print("netguard refusals:", server_log.text.count("netguard: refused"))
    # The run stayed meaningful: the administrator and its token survived it.
    assert after == {
        "active": True,
        "role": "admin",
        "must_change_password": False,
        "token_revoked": False,
    }
    assert sent > 1000
