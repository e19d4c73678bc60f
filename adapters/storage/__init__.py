"""werf v1.1 stages storage and images repo, on a registry, an OCI layout directory or ``:local``.

Entry points::

    stages = open_stages_storage("127.0.0.1:5000/acme/stages", "acme", options)
    images = open_images_repo("oci:/var/lib/acme/images", "acme", "multirepo")

Both return objects with the same interface whatever the backend (see :class:`StagesStorage`
and :class:`ImagesRepo`); the tables they list follow ``schemas.tables``.
"""

from __future__ import annotations

from adapters.cache import ContentCache
from adapters.registry import RegistryOptions, parse_repository
from adapters.registry.vendors import registry_client
from adapters.storage import codec
from adapters.storage.base import DeleteResult, StagesStorage
from adapters.storage.local import LOCAL_ADDRESS, LocalStagesStorage
from adapters.storage.oci import OciBackend, check_image_path, is_oci_address, layout_path
from adapters.storage.registry_store import RegistryBackend
from adapters.storage.repo import ImagesRepo, RepoStagesStorage
from schemas.errors import InvalidImageName, StorageError
from schemas.vocab import ImagesRepoMode

__all__ = [
    "DeleteResult",
    "ImagesRepo",
    "LocalStagesStorage",
    "StagesStorage",
    "open_images_repo",
    "open_stages_storage",
]


def _is_stage_tag(tag: str) -> bool:
    """Stage tags ``<signature>-<unique id>`` are never pushed twice: their content is fixed."""
    return codec.parse_stage_tag(tag) is not None


def _registry_address(address: str, what: str) -> str:
    try:
        reference = parse_repository(address)
    except InvalidImageName as exc:
        raise StorageError(
            f"invalid {what} address {address!r}: {exc.message}",
            hint="use HOST[:PORT]/PATH for a registry repository, oci:DIR for an OCI layout"
            + (" or :local for the local Docker daemon" if what == "stages storage" else ""),
        ) from exc
    return reference.repository


def registry_repository(address: str) -> str | None:
    """The registry repository of a storage address; None for ``oci:DIR``, ``:local`` or an
    address that is no repository."""
    if address == LOCAL_ADDRESS or is_oci_address(address):
        return None
    try:
        return parse_repository(address).repository
    except InvalidImageName:
        return None


def open_stages_storage(
    address: str,
    project: str,
    options: RegistryOptions | None = None,
    docker_host: str | None = None,
    cache: ContentCache | None = None,
) -> StagesStorage:
    """The stages storage at ``address``: ``HOST[:PORT]/PATH``, ``oci:DIR`` or ``:local``.

    ``cache`` (registries only: the other two are read locally) keeps content between runs."""
    if address == LOCAL_ADDRESS:
        return LocalStagesStorage(project, docker_host=docker_host, parallel=(options or RegistryOptions()).parallel)
    if is_oci_address(address):
        layout_path(address)
        return RepoStagesStorage(OciBackend(), address, project)
    repository = _registry_address(address, "stages storage")
    backend = RegistryBackend(registry_client(options or RegistryOptions()), cache, immutable=_is_stage_tag)
    return RepoStagesStorage(backend, repository, project)


def open_images_repo(
    address: str,
    project: str,
    mode: str = "multirepo",
    options: RegistryOptions | None = None,
    docker_host: str | None = None,
    cache: ContentCache | None = None,
) -> ImagesRepo:
    """The images repo at ``address`` (``HOST[:PORT]/PATH`` or ``oci:DIR``) in ``mode``."""
    mode = ImagesRepoMode(mode).value
    if address == LOCAL_ADDRESS:
        raise StorageError("the images repo cannot be :local", hint="pass --images-repo HOST[:PORT]/PATH or oci:DIR")
    if is_oci_address(address):
        layout_path(address)
        name_check = check_image_path if mode == ImagesRepoMode.MULTIREPO.value else None
        return ImagesRepo(OciBackend(), address.rstrip("/"), project, mode, name_check=name_check)
    repository = _registry_address(address, "images repo")
    return ImagesRepo(RegistryBackend(registry_client(options or RegistryOptions()), cache), repository, project, mode)
