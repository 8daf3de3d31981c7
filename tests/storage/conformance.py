"""The shared conformance suite every storage provider passes (rclone/fsspec style).

A provider's test module joins it in a few lines: subclass :class:`ProviderConformance`,
set the capability flags, and supply ONE fixture, ``target``, returning a :class:`Target`:

    class TestWebDavConformance(ProviderConformance):
        hash_algorithms = ("sha256",)

        @pytest.fixture
        def target(self, webdav, fault_proxy_for) -> Target:
            faults = ProxyFaults(fault_proxy_for(webdav.url), parts=lambda r: "/chunk" in r.target)
            return Target(
                make=lambda **kw: make_webdav(faults.url, webdav, **kw),  # a working provider
                read_back=webdav.read, list_names=webdav.names,   # without the provider
                faults=faults,                                    # fault injection
                break_auth=lambda: make_webdav(webdav.url, webdav, password="wrong"),
                remove_folder=lambda: make_webdav(webdav.url, webdav, folder="gone"),
            )

Fault injection is part of the protocol (:class:`Faults`), not per-file hooks. An HTTP
provider puts a FaultProxy in front of its service (``ProxyFaults``: a connection reset
mid-body, 503 + Retry-After, a stalled answer, the requests that carried upload parts); a
stand-in with faults of its own, or a non-HTTP provider, implements the same five methods
once, next to the stand-in (tests/standins/). "Verification" uses ``Faults.corrupt_answer``
when the faults can make the service misreport what landed, else it makes the provider see
a wrong size (``verify_landed``). Every test is small and fast; the large-file test uses
just over the provider's minimum part size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from cli.helpers import wait_until
from factories import TEST_ITERATIONS
from standins.faults import Faults, ProxyFaults
from strongroom.crypto.offline import OfflineEntry, copy_keys_create
from strongroom.exports.offline_file import offline_file_build
from strongroom.storage.base import (
    ObjectInfo,
    Provider,
    StorageAuthError,
    StorageError,
    StorageNotFound,
    StoragePermanentError,
    StorageTransientError,
)

__all__ = ["Faults", "ProviderConformance", "ProxyFaults", "Target"]


@dataclass
class Target:
    """What a provider's test module supplies (the ``target`` fixture)."""

    #: A working provider on a fresh, empty container; keyword arguments go to the
    #: provider's constructor (the suite passes ``timeout`` and ``chunk_threshold``).
    make: Callable[..., Provider]
    #: The bytes stored under ``name``, read without the provider (the service's own API).
    read_back: Callable[[str], bytes]
    #: Every object name in the container, read without the provider.
    list_names: Callable[[], list[str]]
    faults: Faults
    #: A provider whose credentials the service refuses; None: it has no credentials.
    break_auth: Callable[[], Provider] | None = None
    #: A provider whose folder / bucket does not exist; None: ``no_folder_reason`` says why.
    remove_folder: Callable[[], Provider] | None = None
    no_folder_reason: str = ""
    #: What the service keeps of how an object is served, read without the provider:
    #: any of "type" (the full Content-Type), "bare_type" (without parameters) and
    #: "disposition". None: the service keeps no type, ``no_type_reason`` says why.
    read_type: Callable[[str], dict[str, str | None]] | None = None
    no_type_reason: str = ""


UNICODE_NAME = "Zugänge — ключи 🔐 résumé.html"
SECRET_VALUES = ("hunter2-Canary-Pässwörd", "root-canary-username", "canary notes ✓ 42")


def offline_file_bytes() -> bytes:
    """A real offline file (crypto.offline) whose entries hold the canary values."""
    keys = copy_keys_create(
        passphrase="correct horse battery staple",
        iterations=TEST_ITERATIONS,
        minimum_iterations=TEST_ITERATIONS,
    )
    entries = [
        OfflineEntry(
            name="canary server",
            username=SECRET_VALUES[1],
            password=SECRET_VALUES[0],
            notes=SECRET_VALUES[2],
            host="db.canary.internal",
        )
    ]
    return offline_file_build(
        copy_keys=keys,
        entries=entries,
        generated_at=datetime.now(UTC),
        expires_at=None,
        title="Conformance",
        owner="conformance",
        minimum_iterations=TEST_ITERATIONS,
    )


class ProviderConformance:
    #: The provider can report a Retry-After (False for the local folder).
    supports_retry_after: ClassVar[bool] = True
    #: Size of the payload that must take the chunked / multipart path.
    large_size: ClassVar[int] = 64 * 1024
    #: Hash algorithm put() reports, or None when unknown.
    hash_algorithms: ClassVar[tuple[str | None, ...]] = ("sha256",)

    @pytest.fixture
    def provider(self, target: Target) -> Iterator[Provider]:
        self.target = target
        yield target.make()
        target.faults.clear()

    def read_back(self, provider: Provider, name: str) -> bytes:
        return self.target.read_back(name)

    def list_names(self, provider: Provider) -> list[str]:
        return self.target.list_names()

    # -- the suite -----------------------------------------------------------------------

    def test_check_describes_the_location(self, provider: Provider) -> None:
        description = provider.check()
        assert isinstance(description, str) and description
        assert "secret" not in description.lower()

    def test_round_trip(self, provider: Provider) -> None:
        data = b"<html>round trip \x00\xff</html>"
        info = provider.put("round-trip.html", data)
        assert isinstance(info, ObjectInfo)
        assert info.size == len(data)
        assert info.location
        assert info.hash_algorithm in self.hash_algorithms
        assert self.read_back(provider, "round-trip.html") == data
        assert provider.stat("round-trip.html").size == len(data)
        provider.delete("round-trip.html")
        with pytest.raises(StorageNotFound):
            provider.stat("round-trip.html")

    def test_replace_keeps_one_object(self, provider: Provider) -> None:
        provider.put("replace.html", b"first version")
        provider.put("replace.html", b"second")
        assert self.read_back(provider, "replace.html") == b"second"
        assert self.list_names(provider).count("replace.html") == 1

    def test_empty_object(self, provider: Provider) -> None:
        assert provider.put("empty.html", b"").size == 0
        assert self.read_back(provider, "empty.html") == b""

    def test_atomic_replace_failed_upload_keeps_previous(self, provider: Provider) -> None:
        good = b"previous good copy " * 100
        provider.put("atomic.html", good)
        self.target.faults.reset_mid_upload()
        with pytest.raises(StorageError) as excinfo:
            provider.put("atomic.html", b"new copy that never lands " * 4000)
        assert isinstance(excinfo.value, StorageError)
        assert self.read_back(provider, "atomic.html") == good
        assert [n for n in self.list_names(provider) if n.startswith(".strongroom-tmp")] == []

    def test_atomic_replace_large_failed_upload_keeps_previous(self, provider: Provider) -> None:
        good = b"good"
        provider.put("atomic-large.html", good)
        self.target.faults.reset_mid_upload()
        with pytest.raises(StorageError):
            provider.put("atomic-large.html", b"L" * self.large_size)
        assert self.read_back(provider, "atomic-large.html") == good

    def test_verify_after_upload_detects_mismatch(
        self, provider: Provider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not self.target.faults.corrupt_answer():
            real = provider.verify_landed

            def wrong_size(info: ObjectInfo, data: bytes, expected: str | None) -> None:
                real(replace(info, size=info.size + 1), data, expected)

            monkeypatch.setattr(provider, "verify_landed", wrong_size)
        with pytest.raises((StorageTransientError, StoragePermanentError)) as excinfo:
            provider.put("tampered.html", b"some bytes")
        assert "verification failed" in excinfo.value.message

    def test_large_file_takes_chunked_path(self, provider: Provider) -> None:
        data = bytes(range(256)) * (self.large_size // 256 + 7)
        with self.target.faults.upload_parts() as parts:
            info = provider.put("large.html", data)
        assert len(parts) >= 2, parts
        assert info.size == len(data)
        assert self.read_back(provider, "large.html") == data

    def test_offline_copies_keep_their_content_type(self, provider: Provider) -> None:
        """The web page is stored as text/html (a phone opens it from a link) and the
        KeePass file as a download under its own name, where the service keeps a type."""
        if self.target.read_type is None:
            pytest.skip(self.target.no_type_reason)
        expected = {
            "strongroom-offline.html": ("text/html; charset=utf-8", None),
            "strongroom-offline.kdbx": (
                "application/octet-stream",
                'attachment; filename="strongroom-offline.kdbx"',
            ),
        }
        for name, (mime, disposition) in expected.items():
            provider.put(name, b"<html>typed</html>")
            kept = self.target.read_type(name)
            assert kept, name
            if "type" in kept:
                assert kept["type"] == mime, (name, kept)
            if "bare_type" in kept:
                assert kept["bare_type"] == mime.split(";")[0], (name, kept)
            if "disposition" in kept:
                assert kept["disposition"] == disposition, (name, kept)

    def test_unicode_names(self, provider: Provider) -> None:
        info = provider.put(UNICODE_NAME, "ünïcødé".encode())
        assert info.size == len("ünïcødé".encode())
        assert provider.stat(UNICODE_NAME).size == info.size
        assert UNICODE_NAME in self.list_names(provider)
        provider.delete(UNICODE_NAME)
        assert UNICODE_NAME not in self.list_names(provider)

    @pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "..\\x", "x\x00y", "line\nbreak"])
    def test_hostile_names_refused(self, provider: Provider, bad: str) -> None:
        with pytest.raises(StoragePermanentError):
            provider.put(bad, b"x")

    def test_delete_is_idempotent(self, provider: Provider) -> None:
        provider.delete("never-existed.html")
        provider.put("twice.html", b"x")
        provider.delete("twice.html")
        provider.delete("twice.html")

    def test_stat_missing_is_not_found(self, provider: Provider) -> None:
        with pytest.raises(StorageNotFound):
            provider.stat("missing.html")

    def test_auth_failure(self, target: Target) -> None:
        if target.break_auth is None:
            pytest.skip("this provider has no credentials")
        bad = target.break_auth()
        with pytest.raises(StorageAuthError) as excinfo:
            bad.check()
        assert not excinfo.value.retryable
        with pytest.raises(StorageAuthError):
            bad.put("auth.html", b"x")

    def test_missing_container(self, target: Target) -> None:
        if target.remove_folder is None:
            pytest.skip(target.no_folder_reason or "this provider has no container")
        missing = target.remove_folder()
        with pytest.raises(StorageNotFound):
            missing.check()
        with pytest.raises(StorageNotFound):
            missing.put("missing-container.html", b"x")

    def test_transient_failure_with_retry_after(self, provider: Provider) -> None:
        provider.put("transient.html", b"kept")
        self.target.faults.unavailable(7)
        with pytest.raises(StorageTransientError) as exc:
            provider.put("transient.html", b"not stored")
        assert exc.value.retryable
        if self.supports_retry_after:
            assert exc.value.retry_after == pytest.approx(7)
        assert self.read_back(provider, "transient.html") == b"kept"

    def test_timeout_is_transient(self, target: Target) -> None:
        provider = target.make(timeout=1)
        provider.put("slow.html", b"kept")
        target.faults.stall(3)
        with pytest.raises(StorageTransientError) as exc:
            provider.put("slow.html", b"too slow")
        assert exc.value.retryable
        if not target.faults.stalled_upload_lands:
            # Nothing lands once the client gave up (SFTP: the session ends unrenamed).
            assert target.read_back("slow.html") == b"kept"
            return
        # The service still completes the stalled upload later (the client gave up, not the
        # server): wait for it, so it cannot land in the next test.
        wait_until(lambda: target.read_back("slow.html") == b"too slow", timeout=15)

    def test_uploaded_bytes_are_never_plaintext(self, provider: Provider) -> None:
        data = offline_file_bytes()
        provider.put("offline.html", data)
        stored = self.read_back(provider, "offline.html")
        assert stored == data
        for value in SECRET_VALUES:
            assert value.encode() not in stored
            assert value.encode("utf-16-le") not in stored

    def test_repr_has_no_credentials(self, provider: Provider) -> None:
        text = repr(provider) + provider.describe()
        for value in provider.credentials.values():
            if isinstance(value, str) and len(value) >= 8:
                assert value not in text
