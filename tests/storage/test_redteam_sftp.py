"""Red team against SFTP host-key pinning: a man in the middle is another sshd on the
same 127.0.0.1 port (the victim's stopped), which would accept the user's key, so any
upload that got past the pin would land in the same folder. None may."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from strongroom.storage.base import StorageAuthError
from strongroom.storage.providers.sftp import HostKeyChanged

from .sftp_servers import SshServer, keygen
from .test_provider_sftp import make_sftp


def _victim_then_mitm(tmp_path: Path, *, ed25519: bool, rsa: bool) -> tuple[SshServer, str]:
    """The victim's server (its pin taken), then an impostor on its port that lets the
    user's key log in (same authorized_keys) but holds other host keys."""
    victim = SshServer(tmp_path / "victim").start()
    pin_fp = victim.host_fingerprint
    port = victim.port
    victim.stop()
    mitm_dir = tmp_path / "mitm"
    mitm_dir.mkdir()
    for name in ("client_ed25519", "client_ed25519.pub", "authorized_keys"):
        shutil.copy(victim.workdir / name, mitm_dir / name)
    extra = []
    if rsa:
        extra.append(mitm_dir / "ssh_host_rsa_key")
        keygen(extra[0], "rsa")
    mitm = SshServer(mitm_dir, port=port, extra_host_keys=extra, ed25519_host_key=ed25519)
    mitm.start()
    assert mitm.port == port and (not ed25519 or mitm.host_fingerprint != pin_fp)
    return mitm, pin_fp


@pytest.mark.parametrize(
    ("ed25519", "rsa", "typed"),
    [
        (True, False, True),  # another ed25519 key
        (False, True, True),  # an RSA key where ed25519 is pinned (type downgrade)
        (False, True, False),  # an RSA key against a pin given without its type
        (True, True, False),  # both, pin without type: paramiko may pick either
    ],
    ids=["other-ed25519", "rsa-vs-ed25519-pin", "rsa-vs-untyped-pin", "both-vs-untyped-pin"],
)
def test_an_impostor_on_the_same_port_gets_no_upload(
    tmp_path: Path, ed25519: bool, rsa: bool, typed: bool
) -> None:
    folder = tmp_path / "sync"
    folder.mkdir()
    mitm, pin_fp = _victim_then_mitm(tmp_path, ed25519=ed25519, rsa=rsa)
    try:
        pin = f"ssh-ed25519 {pin_fp}" if typed else pin_fp
        provider = make_sftp(mitm, folder, pin=pin)
        with pytest.raises(HostKeyChanged) as excinfo:
            provider.put("copy.html", b"the user's offline copy")
        if ed25519:  # the impostor accepts the user's login: only the pin stopped it
            assert make_sftp(mitm, folder, pin=f"ssh-ed25519 {mitm.host_fingerprint}").check()
    finally:
        mitm.stop()
    assert isinstance(excinfo.value, StorageAuthError) and not excinfo.value.retryable
    assert pin_fp in excinfo.value.message
    assert list(folder.iterdir()) == []


FP = "SHA256:" + "A" * 43


@pytest.mark.parametrize(
    "pin",
    [
        f"ssh-dss {FP}",  # a type the provider does not negotiate
        f"ssh-ed25519,ssh-rsa {FP}",  # an algorithm list smuggled in as the type
        f"ssh-ed25519 {FP} extra",
        f"ssh-ed25519 {FP}==",
        "MD5:aa:bb:cc",
        "sha256:" + "A" * 43,
        "SHA256:" + "\uff21" * 43,  # full-width letters
        FP[:-1],
        FP + "X",
        "*",
    ],
)
def test_confusing_pins_are_refused_as_field_errors(pin: str) -> None:
    from strongroom.core.errors import ValidationFailed
    from strongroom.storage.providers.sftp import parse_pin

    with pytest.raises(ValidationFailed) as excinfo:
        parse_pin(pin)
    assert excinfo.value.details.get("field") == "host_key"
