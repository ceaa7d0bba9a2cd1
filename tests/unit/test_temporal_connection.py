"""Settings → the Temporal SDK's connection options: plaintext for a dev server, TLS with a
CA and client certificate for a cluster (mTLS), an API key for Temporal Cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from infra.settings import Settings
from infra.temporal import TemporalConnectionError, temporal_connect_options


def settings(**values) -> Settings:
    return Settings(temporal_address="temporal.example:7233", temporal_namespace="prod", **values)


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in files.items():
        path.write_bytes(f"-----BEGIN {name.upper()}-----\n".encode())
    return files


def test_a_dev_server_is_plaintext_without_credentials() -> None:
    options = temporal_connect_options(settings())
    assert options == {"namespace": "prod", "tls": False}


def test_the_environment_reaches_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ours.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-key")
    options = temporal_connect_options(Settings())
    assert options == {"namespace": "ours.a1b2c", "api_key": "cloud-key", "tls": True}


def test_an_api_key_turns_tls_on_with_the_system_roots() -> None:
    options = temporal_connect_options(settings(temporal_api_key="cloud-key"))
    assert options["api_key"] == "cloud-key"
    assert options["tls"] is True


def test_tls_alone_uses_the_system_roots() -> None:
    assert temporal_connect_options(settings(temporal_tls=True))["tls"] is True


def test_mtls_reads_the_ca_certificate_and_key(pem_files: dict[str, Path]) -> None:
    options = temporal_connect_options(settings(
        temporal_tls_ca_path=str(pem_files["ca"]),
        temporal_tls_cert_path=str(pem_files["cert"]),
        temporal_tls_key_path=str(pem_files["key"]),
        temporal_tls_server_name="frontend.temporal.internal",
    ))
    assert options["tls"] == TLSConfig(
        server_root_ca_cert=b"-----BEGIN CA-----\n",
        domain="frontend.temporal.internal",
        client_cert=b"-----BEGIN CERT-----\n",
        client_private_key=b"-----BEGIN KEY-----\n",
    )
    assert "api_key" not in options


def test_a_private_ca_alone_verifies_the_server_without_a_client_certificate(pem_files) -> None:
    tls = temporal_connect_options(settings(temporal_tls_ca_path=str(pem_files["ca"])))["tls"]
    assert tls == TLSConfig(server_root_ca_cert=b"-----BEGIN CA-----\n")


def test_a_certificate_without_its_key_is_refused(pem_files) -> None:
    with pytest.raises(TemporalConnectionError, match="TEMPORAL_TLS_KEY_PATH"):
        temporal_connect_options(settings(temporal_tls_cert_path=str(pem_files["cert"])))


def test_an_unreadable_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TemporalConnectionError, match=r"TEMPORAL_TLS_CA_PATH=.*cannot be read"):
        temporal_connect_options(settings(temporal_tls_ca_path=str(tmp_path / "missing.pem")))


def test_tls_off_with_certificate_paths_is_a_contradiction(pem_files) -> None:
    with pytest.raises(TemporalConnectionError, match="contradicts"):
        temporal_connect_options(settings(temporal_tls=False, temporal_tls_ca_path=str(pem_files["ca"])))
