"""How the Temporal connection's TLS follows the settings: Temporal Cloud's API key alone turns TLS on (the
SDK's rule), client certificates make an mTLS configuration, and half a certificate is refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from settings import Settings
from temporal_client import tls_config


def test_an_api_key_alone_leaves_tls_to_the_sdk_which_turns_it_on() -> None:
    settings = Settings(temporal_address="ns.acct.tmprl.cloud:7233", temporal_api_key="key")
    assert tls_config(settings) is None  # temporalio: None means "TLS when an API key is given"


def test_tls_can_still_be_forced_either_way() -> None:
    assert tls_config(Settings(temporal_tls=True)) is True
    assert tls_config(Settings(temporal_tls=False, temporal_api_key="key")) is False


def test_client_certificates_make_an_mtls_configuration(tmp_path: Path) -> None:
    (cert := tmp_path / "client.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nclient\n")
    (key := tmp_path / "client.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nkey\n")
    (ca := tmp_path / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nca\n")
    tls = tls_config(Settings(temporal_tls_cert=cert, temporal_tls_key=key, temporal_tls_ca=ca))
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        cert.read_bytes(), key.read_bytes(), ca.read_bytes())


def test_a_certificate_without_its_key_is_refused_naming_both(tmp_path: Path) -> None:
    (cert := tmp_path / "client.pem").write_bytes(b"pem")
    with pytest.raises(ValidationError, match="PARLEY_TEMPORAL_TLS_CERT and PARLEY_TEMPORAL_TLS_KEY"):
        Settings(temporal_tls_cert=cert)


def test_tls_off_with_certificates_is_a_contradiction(tmp_path: Path) -> None:
    (ca := tmp_path / "ca.pem").write_bytes(b"pem")
    with pytest.raises(ValueError, match="contradicts"):
        tls_config(Settings(temporal_tls=False, temporal_tls_ca=ca))
