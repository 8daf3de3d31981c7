"""Storage test fixtures, shared with the sync tests (import them from here):

- ``moto_server``: the endpoint URL of moto's S3 server on 127.0.0.1 (credential checking
  on); ``moto``: the MotoServer object (``.client()``, ``.new_bucket()``, ``.denied``).
- ``s3_credentials``: a valid ``S3Credentials`` (access key ID, secret, bucket, region).
- ``fault_proxy``: a FaultProxy in front of moto (reverse mode: use ``fault_proxy.url`` as
  the S3 endpoint; or as an HTTP proxy: it forwards absolute URLs), cleared per test.
- ``local_base_dir``: a fresh base directory for the local folder provider.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .faultproxy import FaultProxy
from .moto_server import MotoServer, S3Credentials, start_moto_server


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server(moto: MotoServer) -> str:
    return moto.url


@pytest.fixture(scope="session")
def s3_credentials(moto: MotoServer) -> S3Credentials:
    return moto.admin


@pytest.fixture(scope="session")
def _fault_proxy_session(moto: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=moto.url)
    yield proxy
    proxy.close()


@pytest.fixture
def fault_proxy(_fault_proxy_session: FaultProxy) -> Iterator[FaultProxy]:
    _fault_proxy_session.clear()
    yield _fault_proxy_session
    _fault_proxy_session.clear()


@pytest.fixture
def local_base_dir(tmp_path):
    base = tmp_path / "cloud-sync"
    base.mkdir()
    return base
