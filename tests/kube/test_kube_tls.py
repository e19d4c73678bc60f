"""Client-certificate credentials and server verification over TLS."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapters.kube import KubeOptions, list_kube_images
from schemas.errors import KubeError
from tests.fixtures.kube_server import FakeKubeServer
from tests.kube.tls import CertificateAuthority

IMAGE = "127.0.0.1:5000/acme/app:v1"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def tls_server(ca: CertificateAuthority, tmp_path: Path) -> Iterator[FakeKubeServer]:
    leaf = ca.issue("127.0.0.1", server=True)
    (tmp_path / "server.crt").write_bytes(leaf.cert)
    (tmp_path / "server.key").write_bytes(leaf.key)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "ca.crt")
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    server = FakeKubeServer(ssl_context=context)
    try:
        yield server
    finally:
        server.close()


def write_cert_kubeconfig(directory: Path, server_url: str, ca_pem: bytes, client) -> Path:
    """A kubeconfig with the CA inline and the client certificate as a file relative to it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prod.crt").write_bytes(client.cert)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [
            {
                "name": "prod",
                "cluster": {"server": server_url, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [
            {
                "name": "prod-admin",
                "user": {
                    "client-certificate": "prod.crt",
                    "client-key-data": base64.b64encode(client.key).decode(),
                },
            }
        ],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
    }
    path = directory / "config"
    path.write_text(yaml.safe_dump(document))
    return path


def test_client_certificate_authenticates_over_verified_tls(ca, tls_server, tmp_path) -> None:
    tls_server.add("prod", "Deployment", "web", containers={"app": IMAGE})
    config = write_cert_kubeconfig(tmp_path / "kube", tls_server.url, ca.cert_pem, ca.issue("prod", server=False))

    table = list_kube_images(KubeOptions(kube_config=str(config)))

    assert table.to_pylist() == [
        {"context": "prod", "namespace": "default", "kind": "Deployment", "name": "web", "container": "app", "image": IMAGE}
    ]


def test_server_certificate_from_an_unknown_authority_stops_the_scan(ca, tls_server, tmp_path) -> None:
    tls_server.add("prod", "Deployment", "web", containers={"app": IMAGE})
    stranger = CertificateAuthority("stranger")
    config = write_cert_kubeconfig(tmp_path / "kube", tls_server.url, stranger.cert_pem, ca.issue("prod", server=False))

    with pytest.raises(KubeError, match="cannot reach the API server https://127.0.0.1.*CERTIFICATE_VERIFY_FAILED") as caught:
        list_kube_images(KubeOptions(kube_config=str(config)))

    assert caught.value.context == "prod" and caught.value.status is None
