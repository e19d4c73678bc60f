"""What the tests of the registry implementations share: images pushed straight to the real
registry, clients logged in to a vendor fake, the registry's state read back, the backend's
deletes, and a host that records what it is sent."""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path

from adapters.registry import DOCKER_MANIFEST, RegistryClient
from adapters.registry.vendors import registry_client
from adapters.storage.registry_store import RegistryBackend


def publish(registry, path: str, tags: list[str], *, siblings: dict[str, str] | None = None) -> dict[str, str]:
    """Push an image per tag straight to the registry, plus ``siblings`` (new tag → tag whose
    image it names too); tag → digest."""
    with RegistryClient(registry.options()) as direct:
        repo = registry.repo(path)
        digests = {tag: direct.push_manifest_only_image(repo, tag, {"config": {"Labels": {"tag": tag}}})[0] for tag in tags}
        for sibling, of in (siblings or {}).items():
            direct.put_manifest(repo, sibling, direct.get_manifest(repo, digests[of]).raw, DOCKER_MANIFEST)
            digests[sibling] = digests[of]
    return digests


def tag_also(registry, path: str, digest: str, tag: str) -> None:
    """Put ``tag`` on the manifest ``digest`` of ``path`` straight in the real registry."""
    with RegistryClient(registry.options()) as client:
        raw = client.get_manifest(registry.repo(path), digest).raw
        client.put_manifest(registry.repo(path), tag, raw, DOCKER_MANIFEST)


def push_through(client: RegistryClient, repo: str, tag: str, same_as: str | None = None) -> str:
    """Push a small image as ``repo:tag`` through ``client`` (or tag the image of ``same_as``); its digest."""
    if same_as is not None:
        manifest = client.get_manifest(repo, same_as)
        return client.put_manifest(repo, tag, manifest.raw, DOCKER_MANIFEST)
    return client.push_manifest_only_image(repo, tag, {"config": {"Labels": {"tag": tag}}})[0]


def on_registry(registry, path: str) -> dict[str, str]:
    """Tag → digest as the real registry has them now."""
    with RegistryClient(registry.options()) as direct:
        repo = registry.repo(path)
        return {tag: direct.head_manifest(repo, tag) for tag in direct.list_tags(repo)}


def manifest_exists(registry, path: str, digest: str) -> bool:
    with RegistryClient(registry.options()) as direct:
        return direct.head_manifest(registry.repo(path), digest) is not None


def vendor_client(
    registry, fake, tmp_path: Path, implementation: str, user: str | None = None, *, config_dir: str = "docker", **options
) -> RegistryClient:
    """A client of ``implementation`` logged in (Docker config under ``tmp_path / config_dir``) as
    ``user`` (the fake's own user by default)."""
    config = fake.write_docker_config(tmp_path / config_dir, user or fake.user)
    return registry_client(registry.options(docker_config=config, implementation=implementation, **options))


def delete(client: RegistryClient, repo: str, *items: tuple[str, str]):
    """The backend's results of deleting ``items`` (tag, digest) of ``repo`` as one group, in order."""
    return RegistryBackend(client).delete(repo, [list(items)], None)[0]


def delete_by_tag(client: RegistryClient, repo: str, *items: tuple[str, str]):
    """As :func:`delete`, by tag."""
    return {r.tag: r for r in delete(client, repo, *items)}


class Hosts:
    """A request slot that records every host a client talks to."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, host: str):
        self.seen.append(host)
        return contextlib.nullcontext()


class Recorder(http.server.ThreadingHTTPServer):
    """Another host: records the Authorization of what it is sent."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                recorder.seen.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
