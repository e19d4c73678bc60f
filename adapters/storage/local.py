"""The ``:local`` stages storage: werf v1.1 records as images of the local Docker daemon.

Layout (SPEC §1.2): ``werf-stages-storage/<project>:<sig>-<uid>`` (stages, rejected markers,
client ids), ``werf-managed-images/<project>:<slug>`` and
``werf-images-metadata-by-commit/<project>:<slug>-<commit>``. Records are written without any
network by ``docker load`` of a tarball built here (config + manifest.json, no layers), so the
image id is the digest of the config we wrote. Deleting untags (``remove_image`` on the tag): an
image id shared with another tag keeps that tag.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.concurrency import parallel_map
from adapters.storage import base, codec
from adapters.storage.base import DeferredWrites, DeleteResult, Described, Entry, StagesStorage, ordered_phases
from schemas.errors import DockerHostError

T = TypeVar("T")
R = TypeVar("R")

if TYPE_CHECKING:
    import docker

LOCAL_ADDRESS = ":local"
LOAD_CHUNK = 500  # images per `docker load` when flushing a batch


def _docker() -> Any:
    """The ``docker`` package, imported on first use: a run on registries never loads it (nor
    ``requests`` under it)."""
    import docker
    import docker.errors

    return docker


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests.exceptions

    return (requests.exceptions.RequestException, _docker().errors.DockerException)


def connect(docker_host: str | None, timeout: float = 120.0) -> docker.DockerClient:
    """A client for ``docker_host`` (else ``DOCKER_HOST``/the default socket), checked by a ping."""
    sdk = _docker()
    where = docker_host or "DOCKER_HOST or the default socket"
    try:
        client = sdk.DockerClient(base_url=docker_host, timeout=timeout) if docker_host else sdk.from_env(timeout=timeout)
        client.ping()
    except _connection_errors() as exc:
        raise DockerHostError(
            f"cannot reach the Docker daemon at {where}: {exc}",
            hint="start dockerd, or pass --docker-host (or DOCKER_HOST) pointing at a running daemon",
        ) from exc
    return client


def image_tarball(images: Sequence[tuple[str, bytes]]) -> bytes:
    """A ``docker load`` tarball of manifest-only images: ``(name:tag, config)`` pairs."""
    buffer = io.BytesIO()
    manifest = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        written: set[str] = set()
        for reference, config in images:
            name = codec.image_id(config).removeprefix("sha256:") + ".json"
            if name not in written:
                info = tarfile.TarInfo(name)
                info.size = len(config)
                tar.addfile(info, io.BytesIO(config))
                written.add(name)
            manifest.append({"Config": name, "RepoTags": [reference], "Layers": []})
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def remove_image_reference(api, repository: str, tag: str, expected: str | None) -> DeleteResult:
    """Untag ``repository:tag`` if it still is image ``expected`` (never a sibling tag, never by
    force): ``deleted``, ``already-gone``, or ``failed`` saying why (a container uses it, the tag
    now names another image, the daemon refused or is unreachable)."""
    reference = f"{repository}:{tag}"
    try:
        current = api.inspect_image(reference)["Id"]
        if expected and current != expected:
            return base.failed(
                repository, tag, f"{reference} is now image {current}, not the planned {expected}; run the command again", False
            )
        api.remove_image(reference, force=False, noprune=False)
    except _docker().errors.NotFound:
        return base.already_gone(repository, tag)
    except _docker().errors.APIError as exc:
        if exc.status_code == 409:
            return base.failed(
                repository, tag, f"cannot remove {reference}: {exc.explanation}; it is in use: remove the container first", False
            )
        try:
            api.inspect_image(reference)
        except _docker().errors.NotFound:  # removed meanwhile together with a sibling tag
            return base.already_gone(repository, tag)
        except (_docker().errors.APIError, *_connection_errors()):
            pass
        retryable = exc.status_code is None or exc.status_code >= 500
        return base.failed(repository, tag, f"cannot remove {reference}: {exc}", retryable)
    except _connection_errors() as exc:
        return base.failed(repository, tag, f"cannot reach the Docker daemon to remove {reference}: {exc}", True)
    return base.deleted(repository, tag)


class LocalStagesStorage(DeferredWrites, StagesStorage):
    """Stages storage in the local Docker daemon (``--stages-storage :local``)."""

    def __init__(self, project: str, docker_host: str | None = None, parallel: int = 8) -> None:
        super().__init__(LOCAL_ADDRESS, project)
        self.client = connect(docker_host)
        self.api = self.client.api
        self.parallel = parallel
        self.stages_repository = codec.LOCAL_STAGES_REPO.format(project=project)
        self.managed_repository = codec.LOCAL_MANAGED_IMAGES_REPO.format(project=project)
        self.metadata_repository = codec.LOCAL_METADATA_REPO.format(project=project)
        self._prefixes = {
            self.stages_repository: "",
            self.managed_repository: codec.MANAGED_IMAGE_PREFIX,
            self.metadata_repository: codec.METADATA_PREFIX,
        }
        self._init_deferred(list)  # pending: [(name:tag, config)]

    # ------------------------------------------------------------------ listing

    def _listing(self, repository: str) -> list[tuple[str, str]]:
        """(tag, image id) of every tag of a local repository."""
        try:
            images = self.api.images(filters={"reference": repository})
        except _connection_errors() as exc:
            raise DockerHostError(f"cannot list local images of {repository}: {exc}") from exc
        found = []
        for image in images:
            for reference in image.get("RepoTags") or []:
                name, _, tag = reference.rpartition(":")
                if name == repository:
                    found.append((tag, image["Id"]))
        return found

    def _entries(self) -> list[Entry]:
        return [
            Entry(repository, tag, prefix + tag)
            for repository, prefix in self._prefixes.items()
            for tag, _ in self._listing(repository)
        ]

    def _inspect(self, repository: str, tag: str) -> dict | None:
        try:
            return self.api.inspect_image(f"{repository}:{tag}")
        except _docker().errors.NotFound:
            return None
        except _connection_errors() as exc:
            raise DockerHostError(f"cannot inspect local image {repository}:{tag}: {exc}") from exc

    def _describe(self, entries: Sequence[Entry]) -> dict[Entry, Described]:
        def one(entry: Entry) -> Described | None:
            info = self._inspect(entry.repository, entry.tag)
            if info is None:
                return None
            config = info.get("Config") or {}
            as_config = {
                "created": info.get("Created"),
                "config": {"Labels": config.get("Labels") or {}, "Image": config.get("Image") or None},
            }
            return Described(info["Id"], info["Id"], as_config)

        found = self._map(one, list(entries))
        return {entry: info for entry, info in zip(entries, found, strict=True) if info is not None}

    def _digests(self, entries: Sequence[Entry]) -> dict[Entry, str]:
        ids = {}
        for repository in {entry.repository for entry in entries}:
            ids.update({(repository, tag): image_id for tag, image_id in self._listing(repository)})
        return {entry: ids[(entry.repository, entry.tag)] for entry in entries if (entry.repository, entry.tag) in ids}

    def containers_using_stages(self) -> dict[str, list[str]]:
        """stage tag → names of the containers (running or not) created from that stage's image."""
        by_id: dict[str, list[str]] = {}
        for tag, image_id in self._listing(self.stages_repository):
            by_id.setdefault(image_id, []).append(tag)
        try:
            containers = self.api.containers(all=True)
        except _connection_errors() as exc:
            raise DockerHostError(f"cannot list local containers: {exc}") from exc
        using: dict[str, list[str]] = {}
        for container in containers:
            names = [name.lstrip("/") for name in container.get("Names") or []] or [container["Id"][:12]]
            for tag in by_id.get(container.get("ImageID"), []):
                using.setdefault(tag, []).extend(names)
        return {tag: sorted(names) for tag, names in sorted(using.items())}

    # ------------------------------------------------------------------ writing

    def _location(self, record_tag: str) -> tuple[str, str]:
        if codec.parse_managed_image_tag(record_tag) is not None:
            return self.managed_repository, record_tag.removeprefix(codec.MANAGED_IMAGE_PREFIX)
        if record_tag.startswith(codec.METADATA_PREFIX):
            return self.metadata_repository, record_tag.removeprefix(codec.METADATA_PREFIX)
        return self.stages_repository, record_tag

    def _put(self, repository: str, tag: str, config: bytes) -> str:
        with self._guard:
            if self._batch_depth:
                self._pending.append((f"{repository}:{tag}", config))
                return codec.image_id(config)
        self._load([(f"{repository}:{tag}", config)])
        return codec.image_id(config)

    def _copy(self, repository: str, tag: str, new_tag: str) -> str:
        try:
            self.api.tag(f"{repository}:{tag}", repository, new_tag)
            return self.api.inspect_image(f"{repository}:{new_tag}")["Id"]
        except _connection_errors() as exc:
            raise DockerHostError(f"cannot tag {repository}:{tag} as {new_tag}: {exc}") from exc

    def _flush(self, pending: list[tuple[str, bytes]]) -> None:
        """Writes of a ``batch()`` block are loaded into the daemon together when it ends."""
        for start in range(0, len(pending), LOAD_CHUNK):
            self._load(pending[start : start + LOAD_CHUNK])

    def _load(self, images: Sequence[tuple[str, bytes]]) -> None:
        try:
            for message in self.api.load_image(image_tarball(images)):
                if isinstance(message, dict) and message.get("error"):
                    raise DockerHostError(f"docker load refused the records: {message['error']}")
        except _connection_errors() as exc:
            raise DockerHostError(f"cannot load images into the local Docker daemon: {exc}") from exc

    # ------------------------------------------------------------------ deleting

    def delete_items(self, rows: Sequence[Mapping], parallel: int | None = None, leaving=None) -> list[DeleteResult]:
        """Untag rows; ``digest`` is the image id the row was planned with (``leaving`` is not
        needed: an untag never removes another tag)."""
        results: list[DeleteResult | None] = [None] * len(rows)
        for phase in ordered_phases(rows):
            # Tags of one image are removed one after the other: the daemon races when two
            # removals of the same image run at once.
            groups: dict[str, list[int]] = {}
            for index in phase:
                key = rows[index].get("digest") or f"{rows[index]['repository']}:{rows[index]['tag']}"
                groups.setdefault(str(key), []).append(index)
            answers = self._map(lambda group: [self._delete_one(rows[i]) for i in group], list(groups.values()), parallel)
            for group, group_answers in zip(groups.values(), answers, strict=True):
                for index, answer in zip(group, group_answers, strict=True):
                    results[index] = answer
        return [result for result in results if result is not None]

    def _delete_one(self, row: Mapping) -> DeleteResult:
        repository, tag, expected = str(row["repository"]), str(row["tag"]), row.get("digest")
        if repository not in self._prefixes:
            return base.failed(repository, tag, f"{repository} is not a repository of the :local stages storage", False)
        return remove_image_reference(self.api, repository, tag, expected)

    # ------------------------------------------------------------------ concurrency

    def _map(self, fn: Callable[[T], R], items: Sequence[T], parallel: int | None = None) -> list[R]:
        return parallel_map(fn, items, parallel or self.parallel)

    def close(self) -> None:
        self.client.close()
