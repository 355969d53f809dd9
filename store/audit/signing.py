"""The audit signing key: Ed25519 (pyca/cryptography), kept outside the database.

The private key is `PARLEY_AUDIT_SIGNING_KEY`: an Ed25519 private key in PKCS#8 PEM ("-----BEGIN PRIVATE
KEY-----", as `openssl genpkey -algorithm ed25519` or `parley audit keygen` writes it), given either as the
PEM text itself or as the path of a file holding it. Its public half verifies checkpoints; an auditor gets
it from `parley audit pubkey` (PEM, which `openssl pkeyutl -verify -pubin` reads) and may pass it back as
that PEM (text or file) or as the raw 32-byte key in base64 or hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
_PEM_PRIVATE = "-----BEGIN PRIVATE KEY-----"
_PEM_PUBLIC = "-----BEGIN PUBLIC KEY-----"


class UnusableKey(ValueError):
    """A key that cannot be used, with the reason in plain words."""


def _text_or_file(value: str, pem_marker: str, what: str) -> str:
    """The key text: `value` itself when it holds the PEM marker, else the content of the file it names."""
    value = value.strip()
    if not value:
        raise UnusableKey(f"{what} is empty")
    if "-----BEGIN" in value:
        return value
    path = Path(value).expanduser()
    if len(value) > 4096 or "\n" in value:
        raise UnusableKey(f"{what} is neither PEM text ({pem_marker}) nor the path of a file")
    try:
        if not path.is_file():
            raise UnusableKey(f"{what} names no file: {path} (expected the PEM text itself or the path of a "
                            "PEM file)")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnusableKey(f"{what}: cannot read {path}: {exc}") from None


def load_private_key(value: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of `value` (PKCS#8 PEM text, or the path of a PEM file)."""
    text = _text_or_file(value, _PEM_PRIVATE, "the key")
    if _PEM_PRIVATE not in text:
        found = "a public key" if _PEM_PUBLIC in text else "no PKCS#8 private key"
        raise UnusableKey(f"expected an Ed25519 private key in PKCS#8 PEM ({_PEM_PRIVATE}), found {found}; "
                        "make one with `openssl genpkey -algorithm ed25519` or `parley audit keygen`")
    try:
        key = serialization.load_pem_private_key(text.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not a usable PEM private key (encrypted keys are not supported): "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UnusableKey(f"the key is a {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
    return key


def load_public_key(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key: PEM (text or file), or the raw 32 bytes in base64 or hex."""
    stripped = value.strip()
    raw: bytes | None = None
    if len(stripped) == 64:
        try:
            raw = bytes.fromhex(stripped)
        except ValueError:
            raw = None
    if raw is None and len(stripped) == 44 and "-----" not in stripped:
        try:
            raw = base64.b64decode(stripped, validate=True)
        except binascii.Error:
            raw = None
    if raw is not None:
        if len(raw) != 32:
            raise UnusableKey("a raw Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    text = _text_or_file(stripped, _PEM_PUBLIC, "the public key")
    if _PEM_PRIVATE in text:  # a private key file names its public half too
        return load_private_key(text).public_key()
    if _PEM_PUBLIC not in text:
        raise UnusableKey(f"expected an Ed25519 public key: PEM ({_PEM_PUBLIC}), or 32 bytes in base64 "
                        "(44 characters) or hex (64 digits)")
    try:
        key = serialization.load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not a usable PEM public key: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UnusableKey(f"the public key is a {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
    return key


def generate_pem() -> str:
    """A new private key, as PKCS#8 PEM text."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(key: Ed25519PublicKey) -> str:
    """The raw public key in base64 (44 characters): how checkpoints name the key that signed them."""
    return base64.b64encode(public_raw(key)).decode("ascii")


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                            ).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: a short name to compare keys by."""
    return hashlib.sha256(public_raw(key)).hexdigest()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """The Ed25519 signature of `message`, base64."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_holds(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    try:
        key.verify(raw, message)
    except InvalidSignature:
        return False
    return True
