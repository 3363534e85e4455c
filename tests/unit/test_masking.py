"""The masker hides a secret in every form a peer could echo it in."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from syndicate.masking import Masker

SECRET = "s3cr3t-Pa55/word+7"


@pytest.mark.parametrize("prefix", ["", "u", "us", "user:", "\0user\0"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_secret_inside_any_base64_is_masked(prefix: str, encode: object) -> None:
    encoded = encode(f"{prefix}{SECRET}tail".encode()).decode()  # type: ignore[operator]
    masked = Masker([SECRET]).mask(f"AUTH PLAIN {encoded} refused")
    assert encoded not in masked
    assert "***" in masked


def test_every_plain_form_and_credential_shape_is_masked() -> None:
    mask = Masker([SECRET])
    text = (
        f"{SECRET} {quote_plus(SECRET)} {SECRET.encode().hex()} "
        "Authorization: Bearer eyJhbGciOi.J9xyz1 http://bob:hunter22@proxy:3128/ "
        '/api?access_token=abc123&x=1 {"password": "letmein99"}'
    )
    masked = mask.mask(text)
    for leaked in (SECRET, quote_plus(SECRET), "eyJhbGciOi", "hunter22", "abc123", "letmein99"):
        assert leaked not in masked
    assert "basic authentication" in mask.mask("basic authentication")
