"""The shared conformance suite every storage provider passes (rclone/fsspec style).

A provider's test file subclasses :class:`ProviderConformance`, sets the capability flags
and implements the hooks below as methods/fixtures; pytest collects the inherited tests::

    class TestLocalConformance(ProviderConformance):
        @pytest.fixture
        def provider(self, ...): ...           # a working provider (small chunk threshold)
        def read_back(self, provider, name): ...   # the stored bytes, read without the provider
        def list_names(self, provider): ...        # every object name in the container
        @contextmanager
        def upload_failure(self, provider): ...    # the next put fails mid-upload
        @contextmanager
        def transient_failure(self, provider, retry_after): ...  # next put gets 503/429
        def tamper(self, provider, monkeypatch): ...  # the next put sees a wrong size
        def chunked_parts(self, provider): ...      # context manager -> list of part sizes
        @pytest.fixture
        def bad_auth_provider(self, ...): ...       # wrong secret (if supports_auth)
        @pytest.fixture
        def missing_container_provider(self, ...): ...

Every test is small and fast; the large-file test uses just over the provider's minimum
part size.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from strongroom.crypto.offline import OfflineEntry, copy_keys_create, offline_file_build
from strongroom.storage.base import (
    ObjectInfo,
    Provider,
    StorageAuthError,
    StorageError,
    StorageNotFound,
    StoragePermanentError,
    StorageTransientError,
)

UNICODE_NAME = "Zugänge — ключи 🔐 résumé.html"
CHEAP_ITERATIONS = 1_000
SECRET_VALUES = ("hunter2-Canary-Pässwörd", "root-canary-username", "canary notes ✓ 42")


def offline_file_bytes() -> bytes:
    """A real offline file (crypto.offline) whose entries hold the canary values."""
    keys = copy_keys_create(
        passphrase="correct horse battery staple",
        iterations=CHEAP_ITERATIONS,
        minimum_iterations=CHEAP_ITERATIONS,
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
        minimum_iterations=CHEAP_ITERATIONS,
    )


class ProviderConformance:
    #: The provider has credentials that can be wrong (False for the local folder).
    supports_auth: ClassVar[bool] = True
    #: The provider can report a Retry-After (False for the local folder).
    supports_retry_after: ClassVar[bool] = True
    #: Size of the payload that must take the chunked / multipart path.
    large_size: ClassVar[int] = 64 * 1024
    #: Hash algorithm put() reports, or None when unknown.
    hash_algorithms: ClassVar[tuple[str | None, ...]] = ("sha256",)

    # -- hooks (override) ----------------------------------------------------------------

    def read_back(self, provider: Provider, name: str) -> bytes:
        raise NotImplementedError

    def list_names(self, provider: Provider) -> list[str]:
        raise NotImplementedError

    def upload_failure(self, provider: Provider) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def transient_failure(
        self, provider: Provider, retry_after: float
    ) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def tamper(self, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
        raise NotImplementedError

    def chunked_parts(self, provider: Provider) -> contextlib.AbstractContextManager[list[int]]:
        raise NotImplementedError

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
        with self.upload_failure(provider), pytest.raises(StorageError) as excinfo:
            provider.put("atomic.html", b"new copy that never lands " * 4000)
        assert isinstance(excinfo.value, StorageError)
        assert self.read_back(provider, "atomic.html") == good
        assert [n for n in self.list_names(provider) if n.startswith(".strongroom-tmp")] == []

    def test_atomic_replace_large_failed_upload_keeps_previous(self, provider: Provider) -> None:
        good = b"good"
        provider.put("atomic-large.html", good)
        with self.upload_failure(provider), pytest.raises(StorageError):
            provider.put("atomic-large.html", b"L" * self.large_size)
        assert self.read_back(provider, "atomic-large.html") == good

    def test_verify_after_upload_detects_mismatch(
        self, provider: Provider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.tamper(provider, monkeypatch)
        with pytest.raises((StorageTransientError, StoragePermanentError)) as excinfo:
            provider.put("tampered.html", b"some bytes")
        assert "verification failed" in excinfo.value.message

    def test_large_file_takes_chunked_path(self, provider: Provider) -> None:
        data = bytes(range(256)) * (self.large_size // 256 + 7)
        with self.chunked_parts(provider) as parts:
            info = provider.put("large.html", data)
        assert len(parts) >= 2, parts
        assert info.size == len(data)
        assert self.read_back(provider, "large.html") == data

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

    def test_auth_failure(self, request: pytest.FixtureRequest) -> None:
        if not self.supports_auth:
            pytest.skip("this provider has no credentials")
        bad = request.getfixturevalue("bad_auth_provider")
        with pytest.raises(StorageAuthError) as excinfo:
            bad.check()
        assert not excinfo.value.retryable
        with pytest.raises(StorageAuthError):
            bad.put("auth.html", b"x")

    def test_missing_container(self, request: pytest.FixtureRequest) -> None:
        missing = request.getfixturevalue("missing_container_provider")
        with pytest.raises(StorageNotFound):
            missing.check()
        with pytest.raises(StorageNotFound):
            missing.put("missing-container.html", b"x")

    def test_transient_failure_with_retry_after(self, provider: Provider) -> None:
        provider.put("transient.html", b"kept")
        with self.transient_failure(provider, 7), pytest.raises(StorageTransientError) as exc:
            provider.put("transient.html", b"not stored")
        assert exc.value.retryable
        if self.supports_retry_after:
            assert exc.value.retry_after == pytest.approx(7)
        assert self.read_back(provider, "transient.html") == b"kept"

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
