"""A TLS connection cut mid-upload is transient (the job retries); a certificate that does
not verify is permanent. Seen for real against the Dropbox stand-in: a reset during the
upload body surfaced as requests' SSLError wrapping ssl.SSLEOFError, and was wrongly
reported as "TLS verification failed" with no retry."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Iterator

import botocore.exceptions
import pytest
import requests
import trustme
import urllib3

from strongroom.storage import net
from strongroom.storage.base import StoragePermanentError, StorageTransientError
from strongroom.storage.providers import box as box_provider
from strongroom.storage.providers import dropbox as dropbox_provider
from strongroom.storage.providers import s3 as s3_provider


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def cutting_server(ca: trustme.CA) -> Iterator[str]:
    """Completes the TLS handshake, reads the request head, then drops the TCP connection
    with a reset (no close_notify) while the client is still sending the body."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                conn = ctx.wrap_socket(raw, server_side=True)  # raw is detached from here on
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                conn.recv(1024)  # some of the body, then cut
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/upload"
    stop.set()
    listener.close()
    thread.join(timeout=5)


def _upload(url: str, trusted: trustme.CA) -> BaseException:
    session = requests.Session()
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify
    with trusted.cert_pem.tempfile() as bundle:
        session.verify = bundle
        try:
            session.post(url, data=b"x" * (8 << 20), timeout=10)
        except requests.exceptions.RequestException as exc:
            return exc
    raise AssertionError("the upload should have failed")


def test_a_connection_cut_mid_upload_is_transient(cutting_server, ca):
    for _ in range(5):  # the cut lands at a different point of the TLS stream each time
        exc = _upload(cutting_server, ca)
        # requests reports the cut as an SSLError or a ConnectionError, by where it landed
        if isinstance(exc, requests.exceptions.SSLError):
            assert net.tls_connection_cut(exc), repr(exc)
        else:
            assert isinstance(exc, requests.exceptions.ConnectionError), repr(exc)
        assert isinstance(dropbox_provider._classify(exc), StorageTransientError)
        assert isinstance(box_provider._classify(exc), StorageTransientError)


def test_an_untrusted_certificate_is_permanent(cutting_server):
    other = trustme.CA()  # the client trusts a different CA
    exc = _upload(cutting_server, other)
    assert isinstance(exc, requests.exceptions.SSLError)
    assert not net.tls_connection_cut(exc)
    error = dropbox_provider._classify(exc)
    assert isinstance(error, StoragePermanentError)
    assert "TLS verification failed" in error.message


def _wrapped_like_requests(inner: ssl.SSLError) -> requests.exceptions.SSLError:
    # Exactly the chain requests raised in the stand-in run: requests.SSLError(MaxRetryError(
    # reason=urllib3.SSLError(ssl.SSLEOFError)))
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 443)
    return requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(
            pool, "/2/files/upload", urllib3.exceptions.SSLError(inner)
        )
    )


@pytest.mark.parametrize(
    "inner, cut",
    [
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)"), True),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed (EOF)"), True),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), False),
    ],
)
def test_classification_of_the_requests_chain(inner, cut):
    exc = _wrapped_like_requests(inner)
    assert net.tls_connection_cut(exc) is cut
    expected = StorageTransientError if cut else StoragePermanentError
    assert isinstance(dropbox_provider._classify(exc), expected)
    assert isinstance(box_provider._classify(exc), expected)


def test_s3_classifies_botocore_ssl_errors_the_same_way():
    def raised(inner: ssl.SSLError) -> botocore.exceptions.SSLError:
        # botocore's URLLib3Session raises its SSLError while handling urllib3's
        try:
            try:
                raise urllib3.exceptions.SSLError(inner)
            except urllib3.exceptions.SSLError as exc:
                raise botocore.exceptions.SSLError(endpoint_url="https://s3", error=exc)  # noqa: B904
        except botocore.exceptions.SSLError as outer:
            return outer

    cut = raised(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    bad = raised(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert isinstance(s3_provider._classify(cut, bucket="b"), StorageTransientError)
    verify = s3_provider._classify(bad, bucket="b")
    assert isinstance(verify, StoragePermanentError)
    assert "TLS verification failed" in verify.message
