"""One fixture, ``backend``, runs a storage test against each of the three stages storages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.registry import RegistryOptions
from adapters.storage import ImagesRepo, StagesStorage, open_images_repo, open_stages_storage

STAGES_BACKENDS = [
    pytest.param("registry", marks=pytest.mark.registry),
    "oci",
    pytest.param("local", marks=pytest.mark.docker),
]
IMAGES_BACKENDS = [pytest.param("registry", marks=pytest.mark.registry), "oci"]


@dataclass
class Backend:
    """Where a test's stages storage and images repo live."""

    kind: str
    project: str
    stages_address: str
    images_address: str
    options: RegistryOptions | None = None
    docker_host: str | None = None
    opened: list = field(default_factory=list)

    def stages(self, project: str | None = None) -> StagesStorage:
        storage = open_stages_storage(self.stages_address, project or self.project, self.options, docker_host=self.docker_host)
        self.opened.append(storage)
        return storage

    def images(self, mode: str = "multirepo", address: str | None = None) -> ImagesRepo:
        repo = open_images_repo(address or self.images_address, self.project, mode, self.options)
        self.opened.append(repo)
        return repo

    def close(self) -> None:
        for opened in self.opened:
            opened.close()


def _project(nodeid: str) -> str:
    return "p" + hashlib.sha256(nodeid.encode()).hexdigest()[:10]


def _make_backend(request: pytest.FixtureRequest, kind: str, tmp_path: Path, unique_repo: str) -> Backend:
    project = _project(request.node.nodeid)
    if kind == "registry":
        server = request.getfixturevalue("registry")
        return Backend(
            kind,
            project,
            server.repo(f"{unique_repo}/stages"),
            server.repo(f"{unique_repo}/images"),
            options=server.options(),
        )
    if kind == "oci":
        return Backend(kind, project, f"oci:{tmp_path}/stages", f"oci:{tmp_path}/images")
    daemon = request.getfixturevalue("dockerd")
    return Backend(kind, project, ":local", f"oci:{tmp_path}/images", docker_host=daemon.host)


def _remove_local_records(daemon, project: str) -> None:
    client = daemon.client()
    for repository in (
        f"werf-stages-storage/{project}",
        f"werf-managed-images/{project}",
        f"werf-images-metadata-by-commit/{project}",
    ):
        for image in client.api.images(filters={"reference": repository}):
            client.api.remove_image(image["Id"], force=True)


@pytest.fixture(params=STAGES_BACKENDS)
def backend(request, tmp_path, unique_repo):
    """A stages storage address (and an images repo) of the parametrised kind."""
    chosen = _make_backend(request, request.param, tmp_path, unique_repo)
    yield chosen
    chosen.close()
    if chosen.kind == "local":
        _remove_local_records(request.getfixturevalue("dockerd"), chosen.project)


@pytest.fixture(params=IMAGES_BACKENDS)
def images_backend(request, tmp_path, unique_repo):
    """A backend for images-repo tests (registry or OCI layout)."""
    chosen = _make_backend(request, request.param, tmp_path, unique_repo)
    yield chosen
    chosen.close()
