"""TLS: verified by default, a private CA via ca_file, skip-verify and plain-HTTP mismatches."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.registry import RegistryClient
from schemas.errors import RegistryError
from tests.fixtures.registry import write_test_ca

pytestmark = pytest.mark.registry


def test_https_registry_works_when_its_ca_is_trusted(tls_registry, unique_repo) -> None:
    repo = tls_registry.repo(unique_repo)
    with RegistryClient(tls_registry.options()) as client:
        digest, _ = client.push_manifest_only_image(repo, "v1", {})
        assert client.list_tags(repo) == ["v1"]
        assert client.head_manifest(repo, "v1") == digest


def test_https_registry_with_unknown_ca_fails_with_a_clear_non_retryable_error(tls_registry, unique_repo) -> None:
    with RegistryClient(tls_registry.options(ca_file=None)) as client:
        with pytest.raises(RegistryError) as caught:
            client.list_tags(tls_registry.repo(unique_repo))
    error = caught.value
    assert error.retryable is False
    assert f"TLS certificate of registry {tls_registry.host} could not be verified" in str(error)
    assert "--skip-tls-verify-registry" in str(error)
    assert error.url.startswith(f"https://{tls_registry.host}/v2/")


def test_skip_tls_verify_accepts_an_untrusted_certificate(tls_registry, unique_repo) -> None:
    with RegistryClient(tls_registry.options(ca_file=None, skip_tls_verify=True)) as client:
        assert client.list_tags(tls_registry.repo(unique_repo)) == []


def test_https_client_against_plain_http_registry_suggests_insecure_registry(registry, unique_repo) -> None:
    with RegistryClient(registry.options(insecure_registry=False)) as client:
        with pytest.raises(RegistryError, match="--insecure-registry") as caught:
            client.list_tags(registry.repo(unique_repo))
    assert caught.value.retryable is False


def test_plain_http_client_against_https_registry_says_not_to_use_insecure_registry(tls_registry, unique_repo) -> None:
    with RegistryClient(tls_registry.options(insecure_registry=True)) as client:
        with pytest.raises(RegistryError, match="do not pass --insecure-registry") as caught:
            client.list_tags(tls_registry.repo(unique_repo))
    assert caught.value.status == 400


def test_a_ca_file_replaced_on_disk_is_read_again_by_the_next_client(tls_registry, unique_repo, tmp_path) -> None:
    (tmp_path / "other").mkdir()
    other_ca, _, _ = write_test_ca(tmp_path / "other")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(Path(other_ca).read_bytes())
    with RegistryClient(tls_registry.options(ca_file=str(ca_file))) as client:
        with pytest.raises(RegistryError, match="could not be verified"):
            client.list_tags(tls_registry.repo(unique_repo))
    ca_file.write_bytes(Path(tls_registry.ca_file).read_bytes() + b"\n")  # same path, new bytes
    with RegistryClient(tls_registry.options(ca_file=str(ca_file))) as client:
        assert client.list_tags(tls_registry.repo(unique_repo)) == []
