"""Secret values at rest: AES-GCM with a key from settings (`SECRETS_KEY`).

A sealed value is `v1:<key id>:<base64 nonce + ciphertext>`; the key id (the first
8 hex digits of the key's SHA-256) tells which key sealed it, so a wrong key fails
loudly instead of decrypting garbage. The execution or resource id is bound in as
associated data: a sealed value copied onto another resource does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import ServiceError

_PREFIX = "v1"
_NONCE_BYTES = 12


class SecretKeyMismatch(ServiceError):
    """A sealed value that this service's key cannot open."""

    code = "internal"


def key_from_setting(raw: str) -> bytes:
    """A 32-byte key from a setting: base64 of 32 bytes, or any passphrase (hashed)."""
    try:
        decoded = base64.b64decode(raw, validate=True)
    except ValueError:
        decoded = b""
    return decoded if len(decoded) == 32 else hashlib.sha256(raw.encode()).digest()


KEY_FILE = "secrets.key"


def key_from_data_dir(data_dir: str | Path) -> bytes:
    """The key kept in `data_dir` (made once, readable by its owner only)."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{KEY_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(base64.b64encode(os.urandom(32)).decode())
        try:
            os.link(draft, path)  # whole or not at all; the first process's key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return key_from_setting(path.read_text().strip())


class SecretBox:
    __slots__ = ("_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(key).hexdigest()[:8]

    def seal(self, plaintext: str, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())
        return f"{_PREFIX}:{self._key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, *, bound_to: str) -> str:
        prefix, key_id, payload = [*sealed.split(":", 2), "", ""][:3]
        if prefix != _PREFIX or key_id != self._key_id:
            raise SecretKeyMismatch(f"a secret was sealed with another key ({key_id or 'unknown'})")
        raw = base64.b64decode(payload)
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()).decode()
        except InvalidTag:
            raise SecretKeyMismatch("a secret does not open with this service's key") from None
