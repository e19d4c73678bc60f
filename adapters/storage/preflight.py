"""Before the first delete: prove each repository a plan deletes from accepts deletes, so a
read-only registry or layout stops the run with nothing deleted."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.registry import RegistryOptions, parse_repository
from adapters.registry.vendors import registry_client
from adapters.storage.oci import is_oci_address, layout_path
from schemas.errors import InvalidImageName, StorageError


def check_delete_permitted(repository: str, options: RegistryOptions | None = None) -> None:
    """Raise when deletes in `repository` (a registry repository or an `oci:DIR` layout) would
    be refused. Other storages (`:local`, host items) have nothing to probe."""
    if is_oci_address(repository):
        root = layout_path(repository)
        if root.exists() and not _writable(root):
            raise StorageError(
                f"the OCI layout {root} is read-only for this user; nothing was deleted",
                hint="Run as a user who may write the layout, or point --stages-storage/--images-repo elsewhere.",
            )
        return
    try:
        parse_repository(repository)
    except InvalidImageName:  # not a registry repository (:local names, host items)
        return
    with registry_client(options or RegistryOptions()) as client:
        client.deleter.preflight(repository)


def _writable(root: Path) -> bool:
    index = root / "index.json"
    return os.access(root, os.W_OK) and (not index.exists() or os.access(index, os.W_OK))
