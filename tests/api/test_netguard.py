"""The loopback-only guard (tests/netguard/sitecustomize.py) that the fuzzed server runs
under: names other than loopback fail before any DNS query, connections elsewhere are
refused before a packet leaves, loopback still works. The probe checks that the guard is in
place before it tries anything, so a missing guard fails the test without sending a packet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GUARD = Path(__file__).resolve().parent.parent / "netguard"

PROBE = r"""
import json, socket
out = {"guarded": socket.socket.connect.__module__ == "sitecustomize"
       and socket.getaddrinfo.__module__ == "sitecustomize"}
if out["guarded"]:
    try:
        socket.getaddrinfo("example.com", 443)
        out["lookup"] = "resolved"
    except socket.gaierror as exc:
        out["lookup"] = str(exc)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("192.0.2.1", 443))
        out["connect"] = "connected"
    except ConnectionRefusedError as exc:
        out["connect"] = str(exc)
    finally:
        s.close()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    client = socket.create_connection(("localhost", port), timeout=5)
    peer, _ = server.accept()
    client.sendall(b"ok")
    out["loopback"] = peer.recv(2).decode()
    for s in (client, peer, server):
        s.close()
print(json.dumps(out))
"""


def test_only_loopback_is_reachable_under_the_guard() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(GUARD), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["guarded"] is True
    assert "netguard" in out["lookup"]
    assert "netguard" in out["connect"]
    assert out["loopback"] == "ok"
    assert "netguard: refused lookup of 'example.com'" in done.stderr
    assert "netguard: refused connection to '192.0.2.1'" in done.stderr
