"""OCI Distribution registry client: references, transport (auth, TLS), operations, typed errors.

Entry point: ``RegistryClient(RegistryOptions(...))``; repositories are ``HOST[:PORT]/PATH``.
"""

from adapters.registry.client import RegistryClient
from adapters.registry.errors import RegistryRateLimited
from adapters.registry.manifest import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    sha256_digest,
)
from adapters.registry.options import RegistryOptions
from adapters.registry.reference import (
    DOCKER_HUB,
    Reference,
    normalize_image_reference,
    parse_reference,
    parse_repository,
)

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_HUB",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MANIFEST_ACCEPT",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Manifest",
    "Reference",
    "RegistryClient",
    "RegistryOptions",
    "RegistryRateLimited",
    "normalize_image_reference",
    "parse_reference",
    "parse_repository",
    "sha256_digest",
]
