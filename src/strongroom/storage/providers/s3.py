"""Amazon S3 and S3-compatible storage (boto3).

- Credentials: access key ID + secret access key (sealed). Config: bucket, region,
  optional key prefix, optional endpoint (ONLY from the admin's allow-list; none by
  default, which means AWS itself).
- Atomic replace: an S3 PUT and a CompleteMultipartUpload are atomic: readers see the old
  object or the new one, never a partial one. A failed single PUT stores nothing; a failed
  multipart upload is aborted (s3transfer aborts it) and the previous object stays.
- Every put asks for ``ServerSideEncryption='AES256'`` and ``ChecksumAlgorithm='SHA256'``;
  multipart above ``chunk_threshold`` through boto3's ``TransferConfig``.
- Verification: ``head_object`` size, plus ChecksumSHA256 (full or composite) and the
  ETag (MD5, or MD5-of-parts for multipart) whenever the service reports them.
- botocore's own retries are off (``total_max_attempts=1``; botocore's ``max_attempts`` counts
  retries, so ``max_attempts=1`` would still retry once): the sync jobs decide.
- The proxy goes through ``botocore.config.Config(proxies=...)``, its URL naming the
  proxy's checked address (``net.proxy_pin``). A before-send hook refuses any request to a
  host other than the configured endpoint (no redirects to other hosts; SSRF), and every
  connection is pinned (``net.pin_botocore_client``): the name is resolved once, every
  address checked (internal ones only for an exact allow-list entry), and the socket goes
  to a checked address while TLS and Host keep the name. A redirect (3xx) from an
  S3-compatible endpoint is refused with a clear message (``_refuse_redirect``).
- One boto3 client per endpoint, region, proxy and timeouts, shared by every user; each
  call is signed with the calling user's own key, bound to that call only (``_call``); a
  request with no key bound is refused, never signed with another user's key.
- Errors are classified at the edge (``_classify``); messages never hold the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, ClassVar

from strongroom.core.errors import ValidationFailed
from strongroom.storage import base, http, net
from strongroom.storage.base import ConfigField, ObjectInfo, Provider
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d$|^[a-z0-9\-]{2,40}$")
ACCESS_KEY_RE = re.compile(r"^[A-Za-z0-9+/=_\-.]{3,128}$")
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
MIN_PART_SIZE = 5 * 1024 * 1024  # what S3 (and s3transfer) accept for non-final parts

# One boto3 client per (endpoint, region, proxy, timeouts), shared by every user of that
# endpoint; it holds no credentials. ``S3Provider._call`` binds the caller's key to the call
# in a context variable (per thread / task) and botocore reads it when it signs; with nothing
# bound, signing raises. Why not a client per key: building one costs ~10 ms, ~2,500
# long-lived objects (endpoint rules, client class, operation models) and a connection pool
# of its own, so a burst of first syncs by different users paid for a build, a cold first
# request, a new connection (a TLS handshake on real S3) and garbage-collector passes over
# hundreds of cached clients, each holding a user's secret for the life of the worker.
# Cache keys are HMACs under a per-process random key (the proxy URL may carry a password);
# the least recently used clients are dropped beyond _CLIENTS_MAX.
_CLIENTS: OrderedDict[str, Any] = OrderedDict()
_CLIENTS_MAX = 32
_CLIENTS_LOCK = threading.Lock()
_FINGERPRINT_KEY = secrets.token_bytes(32)
_CALL_CREDENTIALS: ContextVar[Any] = ContextVar("strongroom_s3_call_credentials", default=None)
_SESSION: Any = None  # one boto3 session: its loader caches the service model and rules


def _client_fingerprint(parts: dict[str, Any]) -> str:
    """A keyed digest of a client's configuration (never stored or logged in the clear)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hmac.new(_FINGERPRINT_KEY, blob, hashlib.sha256).hexdigest()


def s3_clients_clear() -> None:
    """Forget every cached client (tests, benchmarks)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


def _session() -> Any:
    """The shared boto3 session (called under _CLIENTS_LOCK); its only credentials are the
    ones bound to the call in progress."""
    global _SESSION
    if _SESSION is None:
        import boto3
        import botocore.session
        from botocore.credentials import CredentialProvider, CredentialResolver, Credentials

        class CallCredentials(Credentials):
            """What botocore signs with: the key bound to the call in progress."""

            def __init__(self) -> None:
                super().__init__(access_key="", secret_key="", method="strongroom-call")

            def get_frozen_credentials(self) -> Any:
                bound = _CALL_CREDENTIALS.get()
                if bound is None:
                    raise base.StoragePermanentError("no S3 credentials are bound to this request")
                return bound

        class CallCredentialProvider(CredentialProvider):
            METHOD = "strongroom-call"

            def load(self) -> Credentials:
                return CallCredentials()

        core = botocore.session.Session()
        # Only the bound key: never the environment, a profile or instance metadata.
        core.register_component(
            "credential_provider", CredentialResolver(providers=[CallCredentialProvider()])
        )
        _SESSION = boto3.session.Session(botocore_session=core)
    return _SESSION


AUTH_CODES = {
    "InvalidAccessKeyId": "unknown access key: S3 does not know this access key ID",
    "SignatureDoesNotMatch": "bad secret: the secret access key does not match the access key ID",
    "ExpiredToken": "the credentials have expired",
    "TokenRefreshRequired": "the credentials have expired",
    "InvalidToken": "the credentials are not valid",
    "InvalidClientTokenId": "unknown access key: S3 does not know this access key ID",
    "AuthorizationHeaderMalformed": "the credentials do not match the bucket's region",
}
PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}
TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "TooManyRequests",
    "RequestLimitExceeded",
    "BadDigest",
    "IncompleteBody",
    "500",
    "502",
    "503",
    "504",
    "429",
}


def _classify(exc: BaseException, *, bucket: str, where: str = "") -> base.StorageError:
    """Map a botocore/boto3/s3transfer exception to a typed base.StorageError."""
    from botocore import exceptions as bce

    # boto3's S3UploadFailedError wraps the ClientError: walk the chain.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (bce.ClientError, bce.BotoCoreError)):
            exc = seen
            break
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, base.StorageError):
        return exc
    # A refusal raised inside botocore's send (net.connect_checked) arrives wrapped.
    inner = (getattr(exc, "kwargs", None) or {}).get("error")
    if isinstance(inner, base.StorageError):
        return inner
    if isinstance(exc, bce.ClientError):
        err = exc.response.get("Error", {}) or {}
        meta = exc.response.get("ResponseMetadata", {}) or {}
        code = str(err.get("Code") or meta.get("HTTPStatusCode") or "")
        status = int(meta.get("HTTPStatusCode") or 0)
        retry_after = http.retry_after(meta.get("HTTPHeaders", {}))
        if status == 407:
            return base.StoragePermanentError("the proxy refused the credentials (HTTP 407)")
        if code in AUTH_CODES:
            return base.StorageAuthError(AUTH_CODES[code])
        if code == "NoSuchBucket" or (code in {"404", "NotFound"} and not where):
            return base.StorageNotFound(f"no such bucket: {bucket}")
        if code in NOT_FOUND_CODES:
            return base.StorageNotFound(f"no such object: {where}")
        if code in PERMISSION_CODES or status == 403:
            return base.StoragePermissionError(
                f"access denied: the key is not allowed to use bucket {bucket}"
            )
        if code in TRANSIENT_CODES or status == 429 or status >= 500:
            label = code if not code.isdigit() else f"HTTP {code}"
            msg = f"S3 is unavailable or throttling ({label})"
            if retry_after is not None:
                msg += f"; retry after {retry_after:g} s"
            return base.StorageTransientError(msg, retry_after=retry_after)
        return base.StoragePermanentError(f"S3 refused the request ({code or status})")
    if isinstance(exc, bce.SSLError):
        if net.tls_connection_cut(exc):
            return base.StorageTransientError("the TLS connection to S3 was cut")
        return base.StoragePermanentError("endpoint unreachable: TLS verification failed")
    if isinstance(exc, bce.ProxyConnectionError):
        return base.StorageTransientError("endpoint unreachable: the proxy refused the connection")
    if isinstance(exc, bce.EndpointConnectionError):
        return base.StorageTransientError("endpoint unreachable: could not connect")
    if isinstance(exc, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return base.StorageTransientError("endpoint unreachable: the request timed out")
    if isinstance(exc, (bce.ConnectionClosedError, bce.ConnectionError, bce.HTTPClientError)):
        return base.StorageTransientError("the connection to S3 was reset")
    if isinstance(exc, bce.NoCredentialsError):
        return base.StorageAuthError("no credentials")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return base.StorageTransientError("the connection to S3 was reset")
    return base.StoragePermanentError(f"S3 request failed ({type(exc).__name__})")


class SendGuard:
    """botocore ``before-send`` hook: refuse any request to another host than allowed."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.origins = http.Origins([endpoint_url or ""], service="the endpoint")
        self.aws = not endpoint_url

    def allowed(self, url: str) -> bool:
        if not self.aws:
            return url in self.origins
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and host.endswith(AWS_HOST_SUFFIXES)

    def __call__(self, request: Any, **kwargs: Any) -> None:
        if not self.allowed(request.url):
            raise http.RefusedRequest("refused a request to a host other than the endpoint")
        # The client is shared by every user: whatever botocore does inside, a request goes
        # out only if it is signed with the key bound to the call in progress.
        bound = _CALL_CREDENTIALS.get()
        authorization = request.headers.get("Authorization") or b""
        if isinstance(authorization, str):
            authorization = authorization.encode("utf-8", "replace")
        if bound is None or f" Credential={bound.access_key}/".encode() not in authorization:
            raise base.StoragePermanentError(
                "refused to send a request not signed with the caller's own S3 key"
            )


def _refuse_redirect(response: Any = None, **kwargs: Any) -> None:
    """botocore ``needs-retry`` hook (registered first, S3-compatible endpoints only): a 3xx
    answer is refused, never re-sent elsewhere (botocore's redirect handling would
    otherwise retry it, and a 307 on every attempt ended in RecursionError)."""
    answer = response[0] if isinstance(response, tuple) and response else None
    status = int(getattr(answer, "status_code", 0) or 0)
    if 300 <= status < 400:
        raise base.StoragePermanentError(
            f"the S3 endpoint answered with a redirect (HTTP {status}); redirects are "
            "refused: check the endpoint URL, the bucket name and its region"
        )


class S3Provider(Provider):
    name: ClassVar[str] = "s3"
    label: ClassVar[str] = "Amazon S3"
    order: ClassVar[int] = 20
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("access_key_id", "Access key ID", secret=True, max_length=128),
        ConfigField("secret_access_key", "Secret access key", secret=True, kind="password"),
        ConfigField("bucket", "Bucket", max_length=63),
        ConfigField("region", "Region", max_length=40, initial="us-east-1"),
        ConfigField(
            "prefix", "Key prefix", required=False, max_length=200, help="For example strongroom/"
        ),
        ConfigField(
            "endpoint",
            "Endpoint",
            required=False,
            kind="choice",
            choices_from_admin="endpoints",
            empty_label="Amazon S3 (AWS)",
        ),
        ConfigField(
            "endpoints",
            "Allowed S3-compatible endpoints",
            level="admin",
            kind="lines",
            required=False,
            help="One per line, e.g. https://minio.example.com:9000. Empty: Amazon S3 only.",
        ),
    )
    default_chunk_threshold: ClassVar[int] = 8 * 1024 * 1024
    allow_list_field: ClassVar[str] = "endpoints"
    threshold_name: ClassVar[str] = "the multipart threshold"

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        key_id = str(credentials.get("access_key_id") or "").strip()
        secret = str(credentials.get("secret_access_key") or "").strip()
        bucket = str(config.get("bucket") or "").strip()
        region = str(config.get("region") or "").strip() or "us-east-1"
        prefix = str(config.get("prefix") or "").strip().lstrip("/")
        endpoint = str(config.get("endpoint") or "").strip()
        if not key_id:
            raise ValidationFailed("the access key ID is required", field="access_key_id")
        if not ACCESS_KEY_RE.match(key_id):
            raise ValidationFailed(
                "the access key ID contains characters S3 never uses", field="access_key_id"
            )
        if not secret:
            raise ValidationFailed("the secret access key is required", field="secret_access_key")
        if not BUCKET_RE.match(bucket) or ".." in bucket:
            raise ValidationFailed(
                "the bucket name must be 3-63 lower-case letters, digits, dots or hyphens",
                field="bucket",
            )
        if not REGION_RE.match(region):
            raise ValidationFailed("the region is not valid (e.g. eu-west-1)", field="region")
        if prefix:
            if ".." in prefix.split("/") or "\\" in prefix or len(prefix) > 200:
                raise ValidationFailed("the key prefix is not valid", field="prefix")
            if not prefix.endswith("/"):
                prefix += "/"
        if endpoint:
            endpoint = net.check_endpoint(endpoint, admin_config.get("endpoints") or [])
        config_out = {"bucket": bucket, "region": region, "prefix": prefix, "endpoint": endpoint}
        return config_out, {"access_key_id": key_id, "secret_access_key": secret}

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: base.ProxyConfig | None
    ) -> base.TestResult:
        # A wildcard entry names no host to probe; an exact entry was named by the
        # administrator, so it may be internal (then the probe says only the stage).
        endpoints = [e for e in admin_config.get("endpoints") or [] if "://*." not in e]
        aws = net.probe(cls.name, "https://s3.amazonaws.com/", proxy=proxy)
        if not endpoints:
            return aws
        # Each allow-listed endpoint must answer; AWS itself is reported alongside (an
        # S3-compatible deployment may have no route to AWS).
        for ep in endpoints:
            result = net.probe(cls.name, ep.rstrip("/") + "/", proxy=proxy, allow_internal=True)
            if not result.ok:
                return result
        note = "reachable" if aws.ok else f"not reachable ({aws.stage}: {aws.message})"
        result.message += f"; Amazon S3 itself is {note}"
        return result

    # -- client --------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return str(self.config["bucket"])

    @property
    def prefix(self) -> str:
        return str(self.config.get("prefix") or "")

    @property
    def endpoint(self) -> str | None:
        return self.config.get("endpoint") or None

    def key(self, name: str) -> str:
        return self.prefix + check_object_name(name)

    def location(self, name: str) -> str:
        url = f"s3://{self.bucket}/{self.key(name)}"
        return f"{url} ({self.endpoint})" if self.endpoint else url

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint}" if self.endpoint else where

    def _client(self) -> Any:
        """The shared client for this endpoint, region, proxy and timeouts (see
        ``_CLIENTS``); use it only through ``_call``, which binds this provider's key."""
        cached: Any = getattr(self, "_client_obj", None)
        if cached is not None:
            return cached
        from botocore.config import Config

        endpoint = self.endpoint
        allow_internal = False
        if endpoint:
            # Re-check at use: the allow-list may have changed since the user connected.
            _url, allow_internal = net.endpoint_policy(
                endpoint, self.admin_config.get("endpoints") or []
            )
        kwargs: dict[str, Any] = {
            "region_name": self.config.get("region") or "us-east-1",
            "signature_version": "s3v4",
            "retries": {"total_max_attempts": 1, "mode": "standard"},
            "connect_timeout": min(10.0, self.timeout),
            "read_timeout": self.timeout,
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "s3": {
                "addressing_style": "path" if endpoint else "virtual",
                # S3 Express (directory buckets) would cache a session per bucket in the
                # client, whoever's key made it: plain SigV4 with the caller's own key.
                "disable_s3_express_session_auth": True,
            },
        }
        proxy_url = self.proxy.url() if self.proxy is not None else None
        if proxy_url is not None:
            kwargs["proxies"] = {"http": proxy_url, "https": proxy_url}
        fingerprint = _client_fingerprint(
            {"endpoint": endpoint, "internal": allow_internal, "config": kwargs}
        )
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(fingerprint)
            if client is not None:
                _CLIENTS.move_to_end(fingerprint)
            else:
                client = _session().client(
                    "s3",
                    endpoint_url=endpoint,
                    region_name=kwargs["region_name"],
                    config=Config(**kwargs),
                )
                client.meta.events.register("before-send.s3", SendGuard(endpoint))
                net.pin_botocore_client(client, allow_internal=allow_internal)
                if endpoint:
                    client.meta.events.register_first("needs-retry.s3", _refuse_redirect)
                _CLIENTS[fingerprint] = client
                while len(_CLIENTS) > _CLIENTS_MAX:
                    _CLIENTS.popitem(last=False)
        self._client_obj = client
        return client

    def _call(self, fn: Any, *, where: str = "", **kwargs: Any) -> Any:
        """One S3 operation on the shared client, signed with this provider's key."""
        from botocore.credentials import ReadOnlyCredentials

        bound = _CALL_CREDENTIALS.set(
            ReadOnlyCredentials(
                str(self.credentials.get("access_key_id") or ""),
                str(self.credentials.get("secret_access_key") or ""),
                None,
            )
        )
        try:
            return fn(**kwargs)
        except base.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc, bucket=self.bucket, where=where) from None
        finally:
            _CALL_CREDENTIALS.reset(bound)

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        """Write and remove a tiny probe object: proves the key, the secret, the bucket and
        the permission to upload (what sync needs) with one real request each."""
        client = self._client()
        probe_key = self.prefix + ".strongroom-check"
        self._call(
            client.put_object,
            Bucket=self.bucket,
            Key=probe_key,
            Body=b"",
            ServerSideEncryption="AES256",
        )
        try:
            self._call(client.delete_object, where=probe_key, Bucket=self.bucket, Key=probe_key)
        except (base.StoragePermissionError, base.StorageNotFound):
            logger.info("s3 check: probe object not deletable in bucket %s", self.bucket)
        key_id = str(self.credentials.get("access_key_id") or "")
        return f"{self.describe()} (access key …{key_id[-4:]})"

    def put(self, name: str, data: bytes) -> ObjectInfo:
        from boto3.s3.transfer import TransferConfig

        key = self.key(name)
        client = self._client()
        kind = base.content_type_for(name)
        extra = {"ServerSideEncryption": "AES256", "ChecksumAlgorithm": "SHA256"}
        extra["ContentType"] = kind.mime
        if kind.disposition:
            extra["ContentDisposition"] = kind.disposition
        multipart = len(data) > self.chunk_threshold
        part_size = _part_size(len(data), self.chunk_threshold)
        transfer = TransferConfig(
            multipart_threshold=self.chunk_threshold + 1,
            multipart_chunksize=part_size,
            # In this thread (the bound key is per thread), and never through the CRT
            # client, which would bypass the send guard and the proxy.
            use_threads=False,
            preferred_transfer_client="classic",
        )
        self._call(
            client.upload_fileobj,
            where=key,
            Fileobj=io.BytesIO(data),
            Bucket=self.bucket,
            Key=key,
            ExtraArgs=extra,
            Config=transfer,
        )
        info, head = self._head(name)
        if head.get("ServerSideEncryption") not in (None, "AES256", "aws:kms"):
            raise base.StoragePermanentError(f"{info.location} was stored without encryption")
        self.verify_landed(info, data, None)
        _verify_checksums(info, head, data, part_size if multipart else None)
        logger.info("s3: stored %d bytes at %s", len(data), info.location)
        return info

    def _head(self, name: str) -> tuple[ObjectInfo, dict[str, Any]]:
        key = self.key(name)
        head = self._call(
            self._client().head_object,
            where=key,
            Bucket=self.bucket,
            Key=key,
            ChecksumMode="ENABLED",
        )
        checksum = head.get("ChecksumSHA256")
        etag = str(head.get("ETag") or "").strip('"') or None
        info = ObjectInfo(
            name=name,
            size=int(head.get("ContentLength", 0)),
            content_hash=checksum or etag,
            hash_algorithm="sha256-base64" if checksum else ("etag" if etag else None),
            modified=head.get("LastModified"),
            location=self.location(name),
        )
        return info, head

    def stat(self, name: str) -> ObjectInfo:
        return self._head(name)[0]

    def delete(self, name: str) -> None:
        key = self.key(name)
        try:
            self._call(self._client().delete_object, where=key, Bucket=self.bucket, Key=key)
        except base.StorageNotFound as exc:
            if "bucket" in exc.message:
                raise


def _part_size(size: int, threshold: int) -> int:
    """The part size s3transfer will use (it never goes below S3's 5 MiB minimum)."""
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(max(threshold, MIN_PART_SIZE), size))


def _parts(data: bytes, part_size: int) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]


def _verify_checksums(
    info: ObjectInfo, head: dict[str, Any], data: bytes, part_size: int | None
) -> None:
    """Compare the reported ChecksumSHA256 / ETag with what was sent."""
    checksum = head.get("ChecksumSHA256")
    if checksum:
        expected = {base64.b64encode(hashlib.sha256(data).digest()).decode()}
        if part_size is not None:
            parts = _parts(data, part_size)
            composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts))
            composite_b64 = base64.b64encode(composite.digest()).decode()
            # S3 reports a composite checksum as "<b64>-<parts>"; some compatible services
            # (and moto) omit the suffix.
            expected |= {f"{composite_b64}-{len(parts)}", composite_b64}
        if checksum not in expected:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: SHA-256 checksum differs"
            )
    etag = str(head.get("ETag") or "").strip('"')
    if etag and head.get("ServerSideEncryption") in (None, "AES256"):
        expected_etags = {hashlib.md5(data, usedforsecurity=False).hexdigest()}
        if part_size is not None:
            parts = _parts(data, part_size)
            md5s = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
            expected_etags.add(
                f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(parts)}"
            )
        if re.fullmatch(r"[0-9a-f]{32}(-\d+)?", etag) and etag not in expected_etags:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: ETag differs"
            )


register(S3Provider)
