"""Image reference parsing and Docker Hub normalisation."""

from __future__ import annotations

import pytest

from adapters.registry import Reference, normalize_image_reference, parse_reference, parse_repository
from schemas.errors import ConfigError, InvalidImageName

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/acme/app:tag", Reference("127.0.0.1:5000", "acme/app", "tag", None)),
        ("127.0.0.1:5000/acme/app", Reference("127.0.0.1:5000", "acme/app", None, None)),
        (f"127.0.0.1:5000/acme/app@{DIGEST}", Reference("127.0.0.1:5000", "acme/app", None, DIGEST)),
        (f"127.0.0.1:5000/acme/app:v1@{DIGEST}", Reference("127.0.0.1:5000", "acme/app", "v1", DIGEST)),
        ("registry.example.com/a/b/c:1.0-rc_1", Reference("registry.example.com", "a/b/c", "1.0-rc_1", None)),
        ("localhost/app", Reference("localhost", "app", None, None)),
        ("localhost:5000/app:x", Reference("localhost:5000", "app", "x", None)),
        ("[::1]:5000/app:x", Reference("[::1]:5000", "app", "x", None)),
        ("nginx", Reference("docker.io", "library/nginx", None, None)),
        ("nginx:1.25", Reference("docker.io", "library/nginx", "1.25", None)),
        ("acme/app:v2", Reference("docker.io", "acme/app", "v2", None)),
        ("docker.io/nginx", Reference("docker.io", "library/nginx", None, None)),
        ("index.docker.io/acme/app", Reference("docker.io", "acme/app", None, None)),
        ("my-host.local:443/a__b/c.d/e-f", Reference("my-host.local:443", "a__b/c.d/e-f", None, None)),
    ],
)
def test_parses_reference_into_registry_path_tag_and_digest(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nginx",
        "library/nginx",
        "docker.io/nginx",
        "docker.io/library/nginx",
        "index.docker.io/library/nginx:latest",
        "registry-1.docker.io/library/nginx:latest",
    ],
)
def test_normalises_every_docker_hub_form_of_one_image_alike(text: str) -> None:
    assert normalize_image_reference(text) == "docker.io/library/nginx:latest"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/acme/app", "127.0.0.1:5000/acme/app:latest"),
        (f"127.0.0.1:5000/acme/app@{DIGEST}", f"127.0.0.1:5000/acme/app@{DIGEST}"),
        (f"127.0.0.1:5000/acme/app:v1@{DIGEST}", f"127.0.0.1:5000/acme/app:v1@{DIGEST}"),
        ("acme/app:v1", "docker.io/acme/app:v1"),
    ],
)
def test_normalises_private_registry_references_and_keeps_digests(text: str, expected: str) -> None:
    assert normalize_image_reference(text) == expected


def test_repository_address_keeps_host_and_path() -> None:
    reference = parse_repository("127.0.0.1:5000/acme/stages")
    assert (reference.registry, reference.path, reference.repository) == (
        "127.0.0.1:5000",
        "acme/stages",
        "127.0.0.1:5000/acme/stages",
    )
    assert str(reference.with_tag("v1")) == "127.0.0.1:5000/acme/stages:v1"
    assert str(reference.with_digest(DIGEST)) == f"127.0.0.1:5000/acme/stages@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("127.0.0.1:5000/Acme/app", "lower-case"),
        ("127.0.0.1:5000/acme/app:", "tag ''"),
        ("127.0.0.1:5000/acme/app:-bad", "tag '-bad'"),
        ("127.0.0.1:5000/acme/app@sha256:xyz", "digest"),
        ("https://127.0.0.1:5000/acme/app", "URL scheme"),
        ("127.0.0.1:5000/", "empty"),
        ("127.0.0.1:5000/acme//app", "path component"),
        (" 127.0.0.1:5000/acme/app", "spaces"),
    ],
)
def test_rejects_invalid_reference_saying_why(text: str, why: str) -> None:
    with pytest.raises(InvalidImageName) as caught:
        parse_reference(text)
    assert why in str(caught.value)
    assert text.strip() in str(caught.value)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize("text", ["acme/app", "nginx", "127.0.0.1:5000/acme/app:v1", f"127.0.0.1:5000/acme/app@{DIGEST}"])
def test_repository_address_needs_a_host_and_no_tag(text: str) -> None:
    with pytest.raises(InvalidImageName, match="HOST"):
        parse_repository(text)
