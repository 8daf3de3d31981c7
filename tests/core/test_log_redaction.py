"""The redaction filter masks secret-looking values in every shape SDKs log them."""

from __future__ import annotations

import logging

import pytest

from strongroom.core.logging import RedactingFilter, Secret, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("password=hunter2-canary", "hunter2-canary"),
        ('{"passphrase": "pp-canary"}', "pp-canary"),
        (
            "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIACANARY/20261128/"
            "us-east-1/s3/aws4_request, SignedHeaders=host, Signature=deadbeefcanary'}",
            "AKIACANARY",
        ),
        ("Authorization: Bearer sr_abcdefCANARYTOKENBODY", "CANARYTOKENBODY"),
        ("GET /x?X-Amz-Credential=AKIACANARY2%2F2026&X-Amz-Signature=cafecanary", "cafecanary"),
        ("secret_access_key='wJalrCANARY'", "wJalrCANARY"),
    ],
)
def test_secret_values_are_masked(line, secret):
    assert secret not in redact(line)
    assert "********" in redact(line)


def test_filter_masks_formatted_arguments_and_secret_repr():
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "login with token=%s and %r",
        ("tok-canary", Secret("s")),
        None,
    )
    RedactingFilter().filter(record)
    message = record.getMessage()
    assert "tok-canary" not in message
    assert "Secret('********')" in message
