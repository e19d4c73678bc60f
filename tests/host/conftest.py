"""Host tests run against a Docker daemon of their own: host cleanup and purge act on every
werf image and container of a daemon, so they must not share one with other tests."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.storage import codec
from tests.fixtures.dockerd import Dockerd, running_dockerd


@pytest.fixture(scope="session")
def host_dockerd():
    """A private dockerd for the host tests (``.host``, ``.client()``, container helpers)."""
    with running_dockerd("ssh-") as daemon:
        yield daemon


@dataclass
class Host:
    """The private daemon, emptied before each test, with helpers to build its state."""

    daemon: Dockerd

    @property
    def address(self) -> str:
        return self.daemon.host

    def load_image(self, references: list[str], *, age: timedelta, labels: dict[str, str] | None = None) -> str:
        """Load a layerless image created ``age`` ago (no references: a dangling image); return its id."""
        created = datetime.now(UTC) - age
        config = codec.image_config({**(labels or {}), "test-nonce": f"{created.timestamp()}-{references}"}, created)
        name = codec.image_id(config).removeprefix("sha256:") + ".json"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for member, data in (
                (name, config),
                ("manifest.json", json.dumps([{"Config": name, "RepoTags": references or None, "Layers": []}]).encode()),
            ):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        client = self.daemon.client()
        for message in client.api.load_image(buffer.getvalue()):
            assert not message.get("error"), message
        return codec.image_id(config)

    def image_ids(self) -> set[str]:
        return {image["Id"] for image in self.daemon.client().api.images(all=True)}

    def references(self) -> set[str]:
        return {
            tag for image in self.daemon.client().api.images() for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"
        }

    def container_names(self) -> set[str]:
        return {c["Names"][0].lstrip("/") for c in self.daemon.client().api.containers(all=True)}

    def clear(self) -> None:
        api = self.daemon.client().api
        for container in api.containers(all=True):
            api.remove_container(container["Id"], force=True)
        for image in api.images(all=True):
            api.remove_image(image["Id"], force=True)


@pytest.fixture
def host(host_dockerd) -> Host:
    """The private daemon with no containers and no images."""
    state = Host(host_dockerd)
    state.clear()
    return state
