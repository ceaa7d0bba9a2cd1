"""Secrets sealed at rest open only with the same key and the same owner."""

from __future__ import annotations

import base64

import pytest

from core.secret_box import SecretBox, SecretKeyMismatch, key_from_setting


def test_a_sealed_value_hides_the_plaintext_and_opens_again() -> None:
    box = SecretBox(key_from_setting("passphrase"))
    sealed = box.seal("s3cr3t-token", bound_to="env_1")
    assert "s3cr3t" not in sealed
    assert box.seal("s3cr3t-token", bound_to="env_1") != sealed  # a fresh nonce each time
    assert box.open(sealed, bound_to="env_1") == "s3cr3t-token"


def test_another_key_or_another_owner_does_not_open_it() -> None:
    box = SecretBox(key_from_setting("one"))
    sealed = box.seal("value", bound_to="env_1")
    with pytest.raises(SecretKeyMismatch, match="another key"):
        SecretBox(key_from_setting("two")).open(sealed, bound_to="env_1")
    with pytest.raises(SecretKeyMismatch, match="does not open"):
        box.open(sealed, bound_to="env_2")


def test_a_base64_setting_of_32_bytes_is_the_key_itself() -> None:
    raw = bytes(range(32))
    assert key_from_setting(base64.b64encode(raw).decode()) == raw
    assert len(key_from_setting("short")) == 32
