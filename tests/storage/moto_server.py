"""moto's S3 server on 127.0.0.1 with credential checking switched on, for tests.

Started once per test session in a subprocess (``python -m moto.server``). IAM users and
keys are created while moto still accepts anonymous calls, then ``/moto-api/reset-auth``
switches authentication on (INITIAL_NO_AUTH_ACTION_COUNT=0): from then on a wrong access
key gives InvalidAccessKeyId, a wrong secret SignatureDoesNotMatch, a user without an S3
policy AccessDenied.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import boto3
from botocore.config import Config

ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str = REGION


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]
    admin: S3Credentials  # allowed everything
    denied: S3Credentials  # a valid key with no permissions

    def client(self, creds: S3Credentials | None = None):
        creds = creds or self.admin
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=creds.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def new_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto_server() -> MotoServer:
    port = _free_port()
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HTTP_PROXY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    try:
        return _set_up(url, process)
    except BaseException:
        process.kill()
        raise


def _set_up(url: str, process: subprocess.Popen[bytes]) -> MotoServer:
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIAANONYMOUSSETUP00",
        aws_secret_access_key="setup",
    )
    keys = {}
    for user, policy in (("strongroom-sync", ALLOW_ALL), ("strongroom-nobody", None)):
        iam.create_user(UserName=user)
        if policy:
            iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=policy)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    admin = S3Credentials(*keys["strongroom-sync"], bucket="strongroom-test")
    denied = S3Credentials(*keys["strongroom-nobody"], bucket="strongroom-test")
    server = MotoServer(url=url, process=process, admin=admin, denied=denied)
    server.client().create_bucket(Bucket=admin.bucket)
    # Switch credential checking on.
    request = urllib.request.Request(  # noqa: S310
        f"{url}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass
    return server
