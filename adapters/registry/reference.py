"""Image references: parsing ``HOST[:PORT]/PATH[:TAG][@DIGEST]`` and Docker Hub normalisation.

Pure string handling (no I/O imports) so that decision code can reuse the normaliser.
The grammar follows the Distribution reference grammar:

* the first ``/``-separated component is a registry host when it contains ``.`` or ``:``,
  is ``localhost``, or has upper-case letters; otherwise the reference is on Docker Hub;
* path components are lower-case alphanumerics joined by ``.``, ``_``, ``__`` or dashes;
* a tag is up to 128 word characters, dots and dashes, not starting with ``.`` or ``-``;
* a digest is ``algorithm:hex``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from schemas.errors import InvalidImageName

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")
_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. ``registry`` is normalised (Docker Hub aliases → ``docker.io``)."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``registry/path`` — the repository address without tag or digest."""
        return f"{self.registry}/{self.path}"

    @property
    def ref(self) -> str | None:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=_check_tag(tag, tag), digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=_check_digest(digest, digest))

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _invalid(text: str, why: str) -> InvalidImageName:
    return InvalidImageName(
        f"invalid image reference {text!r}: {why}",
        hint="Expected HOST[:PORT]/PATH[:TAG][@sha256:HEX], e.g. 127.0.0.1:5000/acme/app:v1; repository paths are lower-case.",
    )


def _check_tag(tag: str, text: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise _invalid(text, f"tag {tag!r} is not valid (letters, digits, '_', '.', '-', at most 128)")
    return tag


def _check_digest(digest: str, text: str) -> str:
    if not _DIGEST_RE.fullmatch(digest):
        raise _invalid(text, f"digest {digest!r} is not of the form algorithm:hex")
    return digest


def _split_registry(name: str, text: str) -> tuple[str | None, str]:
    """(registry host as written, or None when the name does not start with one; the path)."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN_RE.fullmatch(first):
            raise _invalid(text, f"registry host {first!r} is not a valid host[:port]")
        return (DOCKER_HUB if first.lower() in DOCKER_HUB_ALIASES else first), rest
    return None, name


def _check_path(path: str, text: str) -> str:
    if not path:
        raise _invalid(text, "the repository path is empty")
    for component in path.split("/"):
        if not _PATH_COMPONENT_RE.fullmatch(component):
            why = (
                "repository names must be lower-case"
                if component.lower() != component
                else f"path component {component!r} is not valid"
            )
            raise _invalid(text, why)
    return path


def parse_reference(text: str, *, require_registry: bool = False) -> Reference:
    """Parse ``[HOST[:PORT]/]PATH[:TAG][@DIGEST]``.

    Without a host the reference is on Docker Hub (``docker.io``), and a one-component path
    gets the ``library/`` prefix. With ``require_registry`` a missing host is an error
    (repository addresses of stagesweep always name their registry).
    """
    if not isinstance(text, str) or not text or text != text.strip():
        raise _invalid(str(text), "it is empty or has surrounding spaces")
    if "://" in text:
        raise _invalid(text, "it must not contain a URL scheme")
    name, _, digest = text.partition("@")
    if digest:
        _check_digest(digest, text)
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], _check_tag(name[colon + 1 :], text)
    registry, path = _split_registry(name, text)
    if registry is None:
        if require_registry:
            raise _invalid(text, "it does not start with a registry host (HOST[:PORT]/PATH)")
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    _check_path(path, text)
    if len(registry) + 1 + len(path) > _MAX_NAME_LENGTH:
        raise _invalid(text, f"the repository name is longer than {_MAX_NAME_LENGTH} characters")
    return Reference(registry=registry, path=path, tag=tag, digest=digest or None)


def parse_repository(text: str) -> Reference:
    """Parse a repository address ``HOST[:PORT]/PATH`` (no tag, no digest)."""
    reference = parse_reference(text, require_registry=True)
    if reference.tag or reference.digest:
        raise _invalid(text, "a repository address has no tag or digest")
    return reference


def normalize_image_reference(text: str) -> str:
    """The canonical form of an image reference, for comparing workload images with tags.

    ``nginx``, ``library/nginx``, ``docker.io/nginx``, ``index.docker.io/library/nginx:latest``
    all become ``docker.io/library/nginx:latest``; a reference with neither tag nor digest gets
    ``:latest``; a digest stays (``REPO:TAG@DIGEST`` keeps both).
    """
    reference = parse_reference(text)
    if reference.tag is None and reference.digest is None:
        reference = replace(reference, tag=DEFAULT_TAG)
    return str(reference)
