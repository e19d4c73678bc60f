"""Registry-backed storages: credentials from the Docker config, TLS with a private CA."""

from __future__ import annotations

import pytest

from adapters.storage import open_images_repo, open_stages_storage
from adapters.storage.publisher import Publisher, at
from schemas.errors import RegistryAuthError, RegistryError

pytestmark = pytest.mark.registry

T0 = at("2024-05-01T10:00:00")


def test_registry_without_credentials_is_refused_with_401(auth_registry, unique_repo, tmp_path) -> None:
    empty_config = tmp_path / "docker"
    empty_config.mkdir()
    options = auth_registry.options(docker_config=str(empty_config))
    stages = open_stages_storage(auth_registry.repo(f"{unique_repo}/stages"), "acme", options)

    with pytest.raises(RegistryAuthError) as listing:
        stages.list_stages()
    assert listing.value.status == 401
    assert "docker login" in str(listing.value)

    row = {"repository": stages.address, "tag": "x", "digest": None, "item_type": "stage"}
    with pytest.raises(RegistryAuthError):  # never swallowed as a per-row failure
        stages.delete_items([row])


def test_registry_with_a_docker_config_auths_entry_works(auth_registry, unique_repo, tmp_path) -> None:
    config_dir = auth_registry.write_docker_config(tmp_path / "docker")
    options = auth_registry.options(docker_config=config_dir)
    stages = open_stages_storage(auth_registry.repo(f"{unique_repo}/stages"), "acme", options)
    images = open_images_repo(auth_registry.repo(f"{unique_repo}/images"), "acme", "multirepo", options)

    with Publisher(stages, images) as pub:
        app = pub.build("app", built_at=T0, n_stages=2)
        pub.publish(app, "main", "c" * 40)

    assert stages.list_stages().num_rows == 2
    assert stages.list_metadata(["app"]).column("commit").to_pylist() == ["c" * 40]
    [tag] = images.list_image_tags(["app"]).to_pylist()
    [result] = images.delete_items([{**tag, "item_type": "image-tag"}])
    assert result.outcome == "deleted"


def test_tls_registry_works_with_the_test_ca(tls_registry, unique_repo) -> None:
    stages = open_stages_storage(tls_registry.repo(f"{unique_repo}/stages"), "acme", tls_registry.options())

    stages.add_managed_image("app")

    assert stages.list_managed_images().column("image_name").to_pylist() == ["app"]


def test_tls_registry_without_the_ca_fails_with_a_certificate_error(tls_registry, unique_repo) -> None:
    options = tls_registry.options(ca_file=None)
    stages = open_stages_storage(tls_registry.repo(f"{unique_repo}/stages"), "acme", options)

    with pytest.raises(RegistryError, match="certificate"):
        stages.list_stages()
