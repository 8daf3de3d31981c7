"""The registry: each provider module registers itself (package scan), lazy imports,
building from a connection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from strongroom.storage import registry
from strongroom.storage.base import Provider


def test_registered_providers():
    assert registry.provider_names()[:2] == ["local", "s3"]
    for name in registry.provider_names():
        cls = registry.provider_class(name)
        assert issubclass(cls, Provider) and cls.name == name and cls.label
    with pytest.raises(KeyError):
        registry.provider_class("ftp")


def test_sdks_are_imported_only_when_used():
    code = (
        "import sys, django, os;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'strongroom.config.settings');"
        "django.setup();"
        "from strongroom.storage import registry, services, views, api;"
        "names = registry.provider_names();"
        "cls = registry.provider_class('s3'); print(cls.label);"
        "eager = {'boto3', 'botocore', 'dropbox', 'box_sdk_gen'} & set(sys.modules);"
        "assert not eager, f'eager import: {eager}'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Amazon S3" in done.stdout


def test_errors_retryable():
    from strongroom.storage import base

    assert base.StorageTransientError("x", retry_after=3).retryable
    for cls in (
        base.StorageAuthError,
        base.StoragePermissionError,
        base.StorageNotFound,
        base.StoragePermanentError,
    ):
        assert not cls("x").retryable
        assert issubclass(cls, base.StorageError)
