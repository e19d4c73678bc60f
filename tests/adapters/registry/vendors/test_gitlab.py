"""The ``gitlab`` implementation against a fake of GitLab's container registry
(tests/fixtures/vendor_gitlab.py) in front of the real registry: tags go alone through GitLab's
tag route (or the OCI tag delete), by digest where neither exists; the pre-flight refuses
credentials that may not delete; the list-tags extension replaces a HEAD per tag."""

from __future__ import annotations

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import (
    PROBE_TRIES,
    probe_implementation,
    registry_client,
    repository_implementation,
    resolve_implementation,
)
from adapters.registry.vendors.gitlab import GitLabDeleter, forget_routes
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import Hosts, Recorder, delete, tag_also, vendor_client
from tests.fixtures.vendor_gitlab import GitLabFake

pytestmark = pytest.mark.registry

PERMISSION = IMPLEMENTATIONS[RepoImplementation.GITLAB].permission


@pytest.fixture(autouse=True)
def _fresh_routes():
    forget_routes()
    yield
    forget_routes()


def push(registry, path: str, tag: str) -> str:
    """Push a small image as ``path:tag`` straight to the real registry; its digest."""
    with registry_client(registry.options()) as client:
        return client.push_manifest_only_image(registry.repo(path), tag, {"config": {"Labels": {"tag": tag}}})[0]


@pytest.fixture(params=["reference", "oci"])
def tag_deleting_fake(request, registry):
    """GitLab's registry with its own tag route (≤ 16.x) and with the OCI tag delete only (≥ 17.0)."""
    fake = GitLabFake(registry, tag_delete=request.param)
    yield fake
    fake.close()


@pytest.fixture
def digest_only_fake(registry):
    """A GitLab registry without tag deletes nor the metadata database."""
    fake = GitLabFake(registry, tag_delete="none", listing=False)
    yield fake
    fake.close()


def gitlab_client(fake: GitLabFake, registry, tmp_path, user: str | None = None, **overrides) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "gitlab", user, **overrides)


def test_a_delete_removes_exactly_the_requested_tag_through_gitlabs_tag_route(gitlab_fake, registry, unique_repo, tmp_path):
    old = push(registry, unique_repo, "old")
    push(registry, unique_repo, "keep")
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        results = delete(client, gitlab_fake.repo(unique_repo), ("old", old))

    assert [(r.tag, r.outcome) for r in results] == [("old", "deleted")]
    assert set(gitlab_fake.disk.tags(unique_repo)) == {"keep"}
    deletes = [(path, status) for _, path, status, _ in gitlab_fake.requests("DELETE") if "probe" not in path]
    assert deletes == [(f"/v2/{unique_repo}/tags/reference/old", 202)]


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_removed_alone(tag_deleting_fake, registry, unique_repo, tmp_path):
    fake = tag_deleting_fake
    digest = push(registry, unique_repo, "old")
    tag_also(registry, unique_repo, digest, "pinned")
    with gitlab_client(fake, registry, tmp_path) as client:
        assert client.deleter.deletes_tag_alone(fake.repo(unique_repo))
        results = delete(client, fake.repo(unique_repo), ("old", digest))

    assert [(r.tag, r.outcome) for r in results] == [("old", "deleted")]
    assert fake.disk.tags(unique_repo) == {"pinned": digest}
    assert not [p for m, p, _, _ in fake.requests("DELETE") if p.endswith(f"/manifests/{digest}")], "deleted by digest"
    route = "/tags/reference/old" if fake.tag_delete == "reference" else "/manifests/old"
    assert [s for _, p, s, _ in fake.requests("DELETE") if p.endswith(route)] == [202]


def test_the_tag_route_is_probed_once_per_repository_however_many_tags_go(gitlab_fake, registry, unique_repo, tmp_path):
    digests = {f"t{i}": push(registry, unique_repo, f"t{i}") for i in range(6)}
    with gitlab_client(gitlab_fake, registry, tmp_path, parallel=4) as client:
        results = delete(client, gitlab_fake.repo(unique_repo), *digests.items())

    assert {r.outcome for r in results} == {"deleted"}
    assert gitlab_fake.disk.tags(unique_repo) == {}
    probes = [p for _, p, s, _ in gitlab_fake.requests("DELETE", "stagesweep-probe-") if s != 401]
    assert len(probes) == 1


def test_without_a_tag_route_a_lone_tag_goes_by_digest_and_a_shared_one_is_kept(
    digest_only_fake, registry, unique_repo, tmp_path
):
    fake = digest_only_fake
    shared = push(registry, unique_repo, "old")
    tag_also(registry, unique_repo, shared, "pinned")
    lone = push(registry, unique_repo, "lone")
    with gitlab_client(fake, registry, tmp_path) as client:
        repo = fake.repo(unique_repo)
        assert client.deleter.deletes_tag_alone(repo) is False
        results = delete(client, repo, ("old", shared), ("lone", lone))
        with pytest.raises(RegistryError, match="alone") as caught:
            client.deleter.delete_tag(repo, "old", shared, True)

    assert [(r.tag, r.outcome, r.reason) for r in results] == [("old", "kept", "shared-digest"), ("lone", "deleted", None)]
    assert caught.value.retryable is False
    assert fake.disk.tags(unique_repo) == {"old": shared, "pinned": shared}
    assert [s for _, p, s, _ in fake.requests("DELETE") if p.endswith(f"/manifests/{lone}")] == [202]
    # the probes found no tag route: GitLab's is not routed, the OCI one is Distribution 2's 400
    probe_answers = [s for _, p, s, _ in fake.requests("DELETE", "stagesweep-probe-") if s != 401]
    assert probe_answers == [404, 400]


def test_preflight_passes_with_delete_rights_and_deletes_nothing(tag_deleting_fake, registry, unique_repo, tmp_path):
    fake = tag_deleting_fake
    push(registry, unique_repo, "a")
    with gitlab_client(fake, registry, tmp_path) as client:
        client.deleter.preflight(fake.repo(unique_repo))
    assert set(fake.disk.tags(unique_repo)) == {"a"}
    assert all("stagesweep-probe-" in p for _, p, _, _ in fake.requests("DELETE"))


def test_preflight_of_a_registry_deleting_by_digest_only_proves_the_manifest_delete(
    digest_only_fake, registry, unique_repo, tmp_path
):
    push(registry, unique_repo, "a")
    with gitlab_client(digest_only_fake, registry, tmp_path) as client:
        client.deleter.preflight(digest_only_fake.repo(unique_repo))
    assert any(p.endswith("/manifests/sha256:" + "0" * 64) and s == 404 for _, p, s, _ in digest_only_fake.requests("DELETE"))
    assert set(digest_only_fake.disk.tags(unique_repo)) == {"a"}


def assert_names_what_to_do(error: RegistryAuthError) -> None:
    text = f"{error.message} {error.hint}"
    assert "gitlab implementation" in text
    assert PERMISSION in text
    assert "DOCKER_CONFIG" in text and "--docker-config" in text
    assert "Nothing was deleted" in text


@pytest.mark.parametrize("mode", ["reference", "oci", "none"])
def test_preflight_refuses_credentials_without_the_delete_action(mode, registry, unique_repo, tmp_path):
    fake = GitLabFake(registry, tag_delete=mode)
    try:
        push(registry, unique_repo, "a")
        fake.deny_deletes()
        with gitlab_client(fake, registry, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(fake.repo(unique_repo))
    finally:
        fake.close()
    assert_names_what_to_do(caught.value)
    assert caught.value.status == 401  # Distribution's insufficient_scope
    assert set(fake.disk.tags(unique_repo)) == {"a"}
    assert not [s for _, _, s, _ in fake.requests("DELETE") if s < 300]


def test_preflight_refuses_a_wrong_password(gitlab_fake, registry, unique_repo, tmp_path):
    push(registry, unique_repo, "a")
    gitlab_fake.add_user("rotated", "old-password")
    with gitlab_client(gitlab_fake, registry, tmp_path, user="rotated") as client:
        gitlab_fake.users["rotated"].secret = "new-password"  # the config still has the old one
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(gitlab_fake.repo(unique_repo))
    assert_names_what_to_do(caught.value)
    assert caught.value.status == 401
    assert set(gitlab_fake.disk.tags(unique_repo)) == {"a"}
    assert [s for _, p, s, _ in gitlab_fake.requests("GET", "/jwt/auth")] == [401]


def test_preflight_refuses_when_the_docker_config_has_no_credentials(gitlab_fake, registry, unique_repo, tmp_path):
    push(registry, unique_repo, "a")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    options = registry.options(docker_config=str(tmp_path / "empty"), implementation="gitlab")
    with registry_client(options) as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.preflight(gitlab_fake.repo(unique_repo))
    assert_names_what_to_do(caught.value)
    assert set(gitlab_fake.disk.tags(unique_repo)) == {"a"}


def test_a_429_is_a_retryable_error_carrying_the_registrys_wait(gitlab_fake, registry, unique_repo, tmp_path):
    digest = push(registry, unique_repo, "old")
    gitlab_fake.rate_limit_deletes(retry_after=7, times=2)
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        repo = gitlab_fake.repo(unique_repo)
        with pytest.raises(RegistryRateLimited) as caught:
            client.deleter.delete_tag(repo, "old", digest, False)
        [result] = delete(client, repo, ("old", digest))

    assert caught.value.retryable and caught.value.retry_after == 7
    assert (result.outcome, result.retryable, result.retry_after) == ("failed", True, 7)
    assert "old" in gitlab_fake.disk.tags(unique_repo)


def test_a_5xx_on_a_delete_fails_retryably_and_the_same_delete_then_succeeds(gitlab_fake, registry, unique_repo, tmp_path):
    digest = push(registry, unique_repo, "old")
    gitlab_fake.fail_deletes(500, times=1)
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        repo = gitlab_fake.repo(unique_repo)
        [first] = delete(client, repo, ("old", digest))
        assert (first.outcome, first.retryable) == ("failed", True)
        assert "old" in gitlab_fake.disk.tags(unique_repo)
        [again] = delete(client, repo, ("old", digest))
    assert again.outcome == "deleted"
    assert gitlab_fake.disk.tags(unique_repo) == {}


def test_an_unknown_tag_is_already_gone(gitlab_fake, registry, unique_repo, tmp_path):
    digest = push(registry, unique_repo, "old")
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        deleter = client.deleter
        assert deleter.delete_tag(gitlab_fake.repo(unique_repo), "old", digest, False) == Outcome.DELETED
        assert deleter.delete_tag(gitlab_fake.repo(unique_repo), "old", digest, False) == Outcome.ALREADY_GONE


def test_credentials_go_to_the_token_realm_once_and_the_registry_sees_only_tokens(gitlab_fake, registry, unique_repo, tmp_path):
    digest = push(registry, unique_repo, "old")
    tag_also(registry, unique_repo, digest, "pinned")
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        client.deleter.preflight(gitlab_fake.repo(unique_repo))
        delete(client, gitlab_fake.repo(unique_repo), ("old", digest))
        client.deleter.listed_digests(gitlab_fake.repo(unique_repo))

    secret = gitlab_fake.users[gitlab_fake.user].secret
    for _, path, _, authorization in gitlab_fake.log:
        if authorization and authorization.startswith("Basic"):
            assert path.startswith("/jwt/auth"), path
        else:
            assert authorization is None or authorization.startswith("Bearer ")
        assert secret not in (authorization or "")
    assert any(a and a.startswith("Bearer ") for _, p, _, a in gitlab_fake.log if p.startswith("/gitlab/v1/"))


def test_a_listing_page_on_another_host_gets_no_credentials(gitlab_fake, registry, unique_repo, tmp_path):
    push(registry, unique_repo, "a")
    elsewhere = Recorder()
    try:
        gitlab_fake.inject(
            lambda method, path: path.startswith("/gitlab/v1/"),
            200,
            headers={"Link": f'<http://127.0.0.1:{elsewhere.server_address[1]}/gitlab/v1/page2/?n=1&last=a>; rel="next"'},
            body=[{"name": "a", "digest": "sha256:" + "1" * 64}],
        )
        with gitlab_client(gitlab_fake, registry, tmp_path) as client:
            listed = client.deleter.listed_digests(gitlab_fake.repo(unique_repo))
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    assert elsewhere.seen == [None]
    assert listed == {"a": "sha256:" + "1" * 64}


def test_listed_digests_pages_through_gitlabs_tag_list(gitlab_fake, registry, unique_repo, tmp_path):
    pushed = {f"v{i}": push(registry, unique_repo, f"v{i}") for i in range(5)}
    tag_also(registry, unique_repo, pushed["v0"], "w-same-as-v0")
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        deleter = client.deleter
        assert isinstance(deleter, GitLabDeleter)
        deleter.page_size = 2
        listed = deleter.listed_digests(gitlab_fake.repo(unique_repo))

    assert listed == {**pushed, "w-same-as-v0": pushed["v0"]}
    pages = [(p, s) for _, p, s, _ in gitlab_fake.requests("GET", "/gitlab/v1/") if s == 200]
    assert len(pages) == 3
    assert "last=" in pages[1][0] and "last=" in pages[2][0]


def test_without_the_metadata_database_there_is_no_listing_and_it_is_asked_once(
    digest_only_fake, registry, unique_repo, tmp_path
):
    push(registry, unique_repo, "a")
    with gitlab_client(digest_only_fake, registry, tmp_path) as client:
        assert client.deleter.listed_digests(digest_only_fake.repo(unique_repo)) is None
        assert client.deleter.listed_digests(digest_only_fake.repo(unique_repo)) is None
    assert len(digest_only_fake.requests("GET", "/gitlab/v1/")) == 1


def test_a_warm_describe_takes_digests_from_the_listing_not_a_head_per_tag(gitlab_fake, registry, unique_repo, tmp_path):
    tags = [f"m{i}" for i in range(8)]
    for tag in tags:
        push(registry, unique_repo, tag)
    cache = ContentCache(tmp_path / "cache")
    repo = gitlab_fake.repo(unique_repo)
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        backend = RegistryBackend(client, cache)
        cold = backend.describe(repo, tags)
        mark = len(gitlab_fake.log)
        warm = backend.describe(repo, tags)
    after = gitlab_fake.log[mark:]

    assert {t: d.digest for t, d in warm.items()} == {t: d.digest for t, d in cold.items()}
    assert not [p for m, p, _, _ in after if m == "HEAD"], "a HEAD per tag"
    assert [p for _, p, s, _ in after if s == 200 and p.startswith("/gitlab/v1/")]


def test_the_registry_header_makes_auto_resolve_to_gitlab(gitlab_fake, registry, tmp_path):
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        assert probe_implementation(client, gitlab_fake.host) == RepoImplementation.GITLAB
        found, why = resolve_implementation("auto", gitlab_fake.host, "--repo-implementation", client)
    assert found == RepoImplementation.GITLAB and "Gitlab-Container-Registry-Version" in why


def test_the_probe_asks_again_when_get_v2_fails_for_a_moment_and_still_finds_gitlab(gitlab_fake, registry, tmp_path):
    gitlab_fake.inject(lambda method, path: method == "GET" and path == "/v2/", 503, times=PROBE_TRIES - 1)
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        assert probe_implementation(client, gitlab_fake.host) == RepoImplementation.GITLAB


def test_a_registry_that_never_answers_the_probe_stops_the_run_instead_of_being_taken_for_default(
    gitlab_fake, registry, tmp_path
):
    # a GitLab registry taken for `default` would be cleaned by digest deletes; no answer tells nothing
    gitlab_fake.inject(lambda method, path: method == "GET" and path == "/v2/", 503, times=PROBE_TRIES)
    config = gitlab_fake.write_docker_config(tmp_path / "docker", gitlab_fake.user)
    options = registry.options(docker_config=config)
    repository = f"{gitlab_fake.host}/group/probe-outage"
    with pytest.raises(RegistryError) as caught:
        repository_implementation(repository, "auto", "--repo-implementation", options)
    assert f"could not tell which registry {gitlab_fake.host} is" in caught.value.message
    assert "503" in caught.value.message and "--repo-implementation" in caught.value.hint
    # nothing was remembered from the failed probe: once the registry answers, it is GitLab
    found, _ = repository_implementation(repository, "auto", "--repo-implementation", options)
    assert found == RepoImplementation.GITLAB


def test_the_implementation_probe_holds_a_request_slot_of_its_host_like_every_request(gitlab_fake, registry, tmp_path):
    # a `registries:` limit counts the probe too: a probe without a slot is one request over the limit
    hosts = Hosts()
    config = gitlab_fake.write_docker_config(tmp_path / "docker", gitlab_fake.user)
    options = registry.options(docker_config=config, request_slot=hosts)
    found, _ = repository_implementation(f"{gitlab_fake.host}/group/probe-slot", "auto", "--repo-implementation", options)
    assert found == RepoImplementation.GITLAB
    assert gitlab_fake.host in hosts.seen


def test_a_write_registry_token_pushes_but_the_preflight_refuses_it_naming_the_api_scope(
    gitlab_fake, registry, unique_repo, tmp_path
):
    # GitLab's token-scope table: write_registry pushes; only api deletes
    push(registry, unique_repo, "a")
    gitlab_fake.add_token_user("ci", {"read_registry", "write_registry"})
    repo = gitlab_fake.repo(unique_repo)
    with gitlab_client(gitlab_fake, registry, tmp_path, user="ci") as client:
        pushed = client.push_manifest_only_image(repo, "pushed-by-ci", {"config": {}})[0]
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(repo)
        with pytest.raises(RegistryAuthError):
            client.deleter.delete_tag(repo, "a", pushed, False)

    assert "the api scope" in caught.value.message
    assert "insufficient_scope" in caught.value.message or caught.value.status == 401
    assert set(gitlab_fake.disk.tags(unique_repo)) == {"a", "pushed-by-ci"}
    assert not [s for _, _, s, _ in gitlab_fake.requests("DELETE") if s < 300]


def test_the_gitlab_fake_grants_the_delete_action_only_to_an_api_token(gitlab_fake):
    gitlab_fake.add_token_user("reader", {"read_registry"})
    gitlab_fake.add_token_user("writer", {"write_registry"})
    granted = {name: {a for a in ("pull", "push", "delete") if a in user.grants} for name, user in gitlab_fake.users.items()}
    assert granted == {"maintainer": {"pull", "push", "delete"}, "reader": {"pull"}, "writer": {"pull", "push"}}


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_listing_api_falls_back_to_reading_each_tag_and_the_batch_deletes(
    status, gitlab_fake, registry, unique_repo, tmp_path
):
    old = push(registry, unique_repo, "old")
    push(registry, unique_repo, "keep")
    gitlab_fake.listing_status = status
    repo = gitlab_fake.repo(unique_repo)
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        assert client.deleter.listed_digests(repo) is None
        results = delete(client, repo, ("old", old))

    assert [(r.tag, r.outcome) for r in results] == [("old", "deleted")]
    assert set(gitlab_fake.disk.tags(unique_repo)) == {"keep"}
    assert [s for _, p, s, _ in gitlab_fake.requests("HEAD") if p.endswith("/manifests/keep")] == [200]


def test_gitlab_names_itself_on_get_v2_only_and_that_is_where_auto_detection_looks(gitlab_fake, registry, unique_repo, tmp_path):
    push(registry, unique_repo, "a")
    with gitlab_client(gitlab_fake, registry, tmp_path) as client:
        tags_answer = client.transport.request(
            "GET", gitlab_fake.host, f"/v2/{unique_repo}/tags/list", scope=f"repository:{unique_repo}:pull"
        )
        assert tags_answer.status == 200 and tags_answer.header("Gitlab-Container-Registry-Version") is None
        assert probe_implementation(client, gitlab_fake.host) == RepoImplementation.GITLAB
