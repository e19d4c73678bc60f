"""Credentials from the Docker config; Basic (htpasswd registry) and Bearer-token challenges."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path

import pytest

from adapters.registry import RegistryClient
from schemas.errors import RegistryAuthError

from .proxy import RegistryProxy

pytestmark = pytest.mark.registry


def write_auths(directory: Path, host: str, username: str, password: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return str(directory)


def test_registry_requiring_login_without_credentials_is_an_auth_error_naming_it(auth_registry, unique_repo, tmp_path) -> None:
    empty = tmp_path / "docker"
    empty.mkdir()
    with RegistryClient(auth_registry.options(docker_config=str(empty))) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.list_tags(auth_registry.repo(unique_repo))
    error = caught.value
    assert error.status == 401
    assert error.retryable is False
    assert auth_registry.host in str(error)
    assert "docker login" in str(error)
    assert str(empty / "config.json") in str(error)


def test_pushes_and_lists_with_credentials_from_docker_config_auths(auth_registry, unique_repo, tmp_path) -> None:
    config_dir = auth_registry.write_docker_config(tmp_path / "docker")
    repo = auth_registry.repo(unique_repo)
    with RegistryClient(auth_registry.options(docker_config=config_dir)) as client:
        digest, _ = client.push_manifest_only_image(repo, "v1", {"config": {"Labels": {"a": "b"}}})
        assert client.list_tags(repo) == ["v1"]
        assert client.head_manifest(repo, "v1") == digest


def test_reads_docker_config_from_docker_config_environment_variable(auth_registry, unique_repo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", auth_registry.write_docker_config(tmp_path / "env-docker"))
    with RegistryClient(auth_registry.options(docker_config=None)) as client:
        assert client.list_tags(auth_registry.repo(unique_repo)) == []


def test_wrong_password_is_refused_once_with_a_login_hint(auth_registry, unique_repo, tmp_path) -> None:
    config_dir = auth_registry.write_docker_config(tmp_path / "docker", password="wrong")
    with RegistryClient(auth_registry.options(docker_config=config_dir)) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.list_tags(auth_registry.repo(unique_repo))
    assert caught.value.status == 401
    assert f"registry {auth_registry.host} refused the credentials of {auth_registry.username}" in str(caught.value)
    assert f"docker login {auth_registry.host}" in str(caught.value)


def test_uses_a_docker_credential_helper_named_in_cred_helpers(auth_registry, unique_repo, tmp_path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-stagesweeptest"
    secret = json.dumps({"Username": auth_registry.username, "Secret": auth_registry.password})
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{secret}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"credHelpers": {auth_registry.host: "stagesweeptest"}}))
    with RegistryClient(auth_registry.options(docker_config=str(config_dir))) as client:
        assert client.list_tags(auth_registry.repo(unique_repo)) == []


def test_bearer_challenge_gets_one_token_per_scope_and_reuses_it(registry, unique_repo, tmp_path) -> None:
    with RegistryProxy(registry.host, users={"alice": "pw"}) as proxy:
        config_dir = write_auths(tmp_path / "docker", proxy.host, "alice", "pw")
        repo = proxy.repo(unique_repo)
        with RegistryClient(registry.options(docker_config=config_dir)) as client:
            digest, _ = client.push_manifest_only_image(repo, "v1", {})
            client.push_manifest_only_image(repo, "v2", {})
            for _ in range(5):
                assert sorted(client.list_tags(repo)) == ["v1", "v2"]
                assert client.get_manifest(repo, "v1").digest == digest
            assert client.delete_manifest(repo, digest) == "deleted"
            assert client.list_tags(repo) == ["v2"]
    scopes = [request["scopes"] for request in proxy.token_requests]
    path = unique_repo
    assert scopes.count((f"repository:{path}:pull",)) == 1
    assert scopes.count((f"repository:{path}:pull,push",)) == 1
    assert scopes.count((f"repository:{path}:delete",)) == 1
    assert {request["user"] for request in proxy.token_requests} == {"alice"}
    assert all(request["service"] == ["test-registry"] for request in proxy.token_requests)


def test_concurrent_first_requests_share_one_bearer_token(registry, unique_repo, tmp_path) -> None:
    with RegistryProxy(registry.host, users={"alice": "pw"}) as proxy:
        config_dir = write_auths(tmp_path / "docker", proxy.host, "alice", "pw")
        repo = proxy.repo(unique_repo)
        with RegistryClient(registry.options(docker_config=config_dir, parallel=8)) as client:
            assert client.map_concurrent(lambda _: client.list_tags(repo), range(16)) == [[]] * 16
    assert len(proxy.token_requests) == 1


def test_bearer_token_is_fetched_again_after_it_expires(registry, unique_repo, tmp_path) -> None:
    with RegistryProxy(registry.host, users={"alice": "pw"}, token_lifetime=1.0) as proxy:
        config_dir = write_auths(tmp_path / "docker", proxy.host, "alice", "pw")
        with RegistryClient(registry.options(docker_config=config_dir)) as client:
            client.list_tags(proxy.repo(unique_repo))
            client.list_tags(proxy.repo(unique_repo))
            assert len(proxy.token_requests) == 1
            time.sleep(0.6)
            client.list_tags(proxy.repo(unique_repo))
            assert len(proxy.token_requests) == 2


def test_bearer_registry_without_credentials_says_to_log_in(registry, unique_repo, tmp_path) -> None:
    empty = tmp_path / "docker"
    empty.mkdir()
    with RegistryProxy(registry.host, users={"alice": "pw"}) as proxy:
        with RegistryClient(registry.options(docker_config=str(empty))) as client:
            with pytest.raises(RegistryAuthError) as caught:
                client.list_tags(proxy.repo(unique_repo))
    assert caught.value.status == 401
    assert proxy.host in str(caught.value)
    assert "anonymous" in str(caught.value)
    assert f"docker login {proxy.host}" in str(caught.value)


def test_bearer_token_service_refusing_the_password_is_an_auth_error(registry, unique_repo, tmp_path) -> None:
    with RegistryProxy(registry.host, users={"alice": "pw"}) as proxy:
        config_dir = write_auths(tmp_path / "docker", proxy.host, "alice", "nope")
        with RegistryClient(registry.options(docker_config=config_dir)) as client:
            with pytest.raises(RegistryAuthError) as caught:
                client.list_tags(proxy.repo(unique_repo))
    assert caught.value.status == 401
    assert "refused the credentials" in str(caught.value)
    assert len(proxy.token_requests) == 0  # refused before a token was issued


def test_parses_bearer_challenge_with_commas_inside_the_quoted_scope() -> None:
    from adapters.registry.auth import parse_challenges

    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:acme/app:pull,push",error="insufficient_scope"'
    )
    [challenge] = parse_challenges([header])
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:acme/app:pull,push",
        "error": "insufficient_scope",
    }
    [basic] = parse_challenges(['Basic realm="Registry Realm"'])
    assert (basic.scheme, basic.params) == ("basic", {"realm": "Registry Realm"})


def test_identity_token_from_docker_config_is_exchanged_for_a_bearer_token(registry, unique_repo, tmp_path) -> None:
    with RegistryProxy(registry.host, users={}, identity_tokens={"refresh-me": "bob"}) as proxy:
        config_dir = tmp_path / "docker"
        config_dir.mkdir()
        (config_dir / "config.json").write_text(json.dumps({"auths": {proxy.host: {"identitytoken": "refresh-me"}}}))
        with RegistryClient(registry.options(docker_config=str(config_dir))) as client:
            assert client.list_tags(proxy.repo(unique_repo)) == []
    assert proxy.token_requests == [{"user": "bob", "scopes": (f"repository:{unique_repo}:pull",), "service": ["test-registry"]}]
