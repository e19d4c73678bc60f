"""The ``harbor`` implementation against a fake of Harbor's API v2.0 (tests/fixtures/vendor_harbor.py)
in front of the real registry: a tag sharing its digest with a staying tag goes alone through the
tag API, any other tag with its artifact; the pre-flight reads the user's permissions in the
project; the artifact listing replaces a HEAD per tag; credentials go to the registry's host only."""

from __future__ import annotations

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import probe_implementation, registry_client, resolve_implementation
from adapters.registry.vendors.harbor import HarborDeleter, repository_segment
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation, detect
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import Recorder, delete, tag_also, vendor_client
from tests.fixtures.vendor_harbor import HarborFake

pytestmark = pytest.mark.registry

PERMISSION = IMPLEMENTATIONS[RepoImplementation.HARBOR].permission


@pytest.fixture
def path(unique_repo) -> str:
    """This test's repository: project ``tests``, repository name with a slash (``<name>/app``)."""
    return f"{unique_repo}/app"


def push(registry, path: str, *tags: str) -> dict[str, str]:
    """Push one small image per tag straight to the real registry: tag → digest."""
    with registry_client(registry.options()) as client:
        return {
            tag: client.push_manifest_only_image(registry.repo(path), tag, {"config": {"Labels": {"t": tag}}})[0] for tag in tags
        }


def api_deletes(fake: HarborFake) -> list[tuple[str, int]]:
    return [(p, s) for _, p, s, _ in fake.requests("DELETE") if p.startswith("/api/") and "0" * 64 not in p]


def harbor_client(fake: HarborFake, registry, tmp_path, user: str | None = None, **overrides) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "harbor", user, **overrides)


def test_a_tag_no_staying_tag_shares_goes_with_its_artifact(harbor_fake, registry, path, tmp_path):
    pushed = push(registry, path, "old", "keep")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        results = delete(client, harbor_fake.repo(path), ("old", pushed["old"]))

    assert [(r.tag, r.outcome) for r in results] == [("old", "deleted")]
    assert harbor_fake.disk.tags(path) == {"keep": pushed["keep"]}
    project, name = path.split("/", 1)
    # the repository name, which has slashes, is encoded twice in the path
    expected = f"/api/v2.0/projects/{project}/repositories/{repository_segment(name)}/artifacts/{pushed['old']}"
    assert "%252F" in expected
    assert api_deletes(harbor_fake) == [(expected, 200)]


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_removed_alone(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "old")["old"]
    tag_also(registry, path, digest, "pinned")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        assert client.deleter.deletes_tag_alone(harbor_fake.repo(path))
        results = delete(client, harbor_fake.repo(path), ("old", digest))

    assert [(r.tag, r.outcome) for r in results] == [("old", "deleted")]
    assert harbor_fake.disk.tags(path) == {"pinned": digest}
    [(deleted, status)] = api_deletes(harbor_fake)
    assert deleted.endswith(f"/artifacts/{digest}/tags/old") and status == 200


def test_tags_on_one_digest_all_going_take_the_artifact_once(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "a")["a"]
    tag_also(registry, path, digest, "b")
    with harbor_client(harbor_fake, registry, tmp_path, parallel=1) as client:
        results = delete(client, harbor_fake.repo(path), ("a", digest), ("b", digest))
    assert sorted((r.tag, r.outcome) for r in results) == [("a", "deleted"), ("b", "already-gone")]
    assert harbor_fake.disk.tags(path) == {}


def test_an_artifact_already_gone_is_already_gone(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "old")["old"]
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        deleter = client.deleter
        assert deleter.delete_tag(harbor_fake.repo(path), "old", digest, False) == Outcome.DELETED
        assert deleter.delete_tag(harbor_fake.repo(path), "old", digest, False) == Outcome.ALREADY_GONE
        assert deleter.delete_tag(harbor_fake.repo(path), "old", digest, True) == Outcome.ALREADY_GONE


def test_preflight_reads_the_permissions_in_the_project_and_deletes_nothing(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        client.deleter.preflight(harbor_fake.repo(path))
    asked = [p for _, p, _, _ in harbor_fake.log]
    assert asked[0] == f"/api/v2.0/projects/{path.split('/')[0]}"
    assert asked[1].startswith("/api/v2.0/users/current/permissions?scope=%2Fproject%2F1&relative=true")
    assert not harbor_fake.requests("DELETE")
    assert set(harbor_fake.disk.tags(path)) == {"a"}


def assert_names_what_to_do(error: RegistryAuthError) -> None:
    text = f"{error.message} {error.hint}"
    assert "harbor implementation" in text
    assert PERMISSION in text
    assert "DOCKER_CONFIG" in text and "--docker-config" in text
    assert "Nothing was deleted" in text


def test_preflight_refuses_credentials_without_delete_permissions_naming_them(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    harbor_fake.deny_deletes()
    with harbor_client(harbor_fake, registry, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.preflight(harbor_fake.repo(path))
    assert_names_what_to_do(caught.value)
    assert "artifact delete" in caught.value.message and "tag delete" in caught.value.message
    assert caught.value.status == 403
    assert not harbor_fake.requests("DELETE")
    assert set(harbor_fake.disk.tags(path)) == {"a"}


def test_preflight_of_a_robot_that_may_not_read_the_project_tries_the_deletes_on_nothing(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    harbor_fake.users[harbor_fake.user].grants.discard("project:read")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        client.deleter.preflight(harbor_fake.repo(path))
        harbor_fake.deny_deletes()
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(harbor_fake.repo(path))
    assert_names_what_to_do(caught.value)
    assert caught.value.status == 403
    probes = [(p, s) for _, p, s, _ in harbor_fake.requests("DELETE")]
    assert all("0" * 64 in p for p, _ in probes)
    assert [s for _, s in probes] == [404, 404, 403]
    assert set(harbor_fake.disk.tags(path)) == {"a"}


def test_preflight_refuses_a_wrong_password(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        harbor_fake.users[harbor_fake.user].secret = "rotated"
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(harbor_fake.repo(path))
    assert_names_what_to_do(caught.value)
    assert caught.value.status == 401
    assert set(harbor_fake.disk.tags(path)) == {"a"}


def test_preflight_refuses_when_the_docker_config_has_no_credentials(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    options = registry.options(docker_config=str(tmp_path / "empty"), implementation="harbor")
    with registry_client(options) as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.preflight(harbor_fake.repo(path))
    assert_names_what_to_do(caught.value)
    assert harbor_fake.log == []  # nothing was even asked


def test_preflight_names_a_project_harbor_does_not_know(harbor_fake, registry, tmp_path):
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        with pytest.raises(RegistryError, match="no project nosuchproject"):
            client.deleter.preflight(harbor_fake.repo("nosuchproject/app"))
        with pytest.raises(RegistryError, match="HOST/<project>/<repository>"):
            client.deleter.preflight(harbor_fake.repo("noproject"))


def test_a_429_is_a_retryable_error_carrying_harbors_wait(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "old")["old"]
    harbor_fake.rate_limit_deletes(retry_after=9, times=2)
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        repo = harbor_fake.repo(path)
        with pytest.raises(RegistryRateLimited) as caught:
            client.deleter.delete_tag(repo, "old", digest, False)
        [result] = delete(client, repo, ("old", digest))

    assert caught.value.retryable and caught.value.retry_after == 9
    assert "too many requests" in caught.value.message
    assert (result.outcome, result.retryable, result.retry_after) == ("failed", True, 9)
    assert "old" in harbor_fake.disk.tags(path)


def test_a_5xx_on_a_delete_fails_retryably_and_the_same_delete_then_succeeds(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "old")["old"]
    harbor_fake.fail_deletes(500, times=1)
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        repo = harbor_fake.repo(path)
        [first] = delete(client, repo, ("old", digest))
        assert (first.outcome, first.retryable) == ("failed", True)
        assert "old" in harbor_fake.disk.tags(path)
        [again] = delete(client, repo, ("old", digest))
    assert again.outcome == "deleted"
    assert harbor_fake.disk.tags(path) == {}


def test_a_forbidden_delete_is_an_auth_error_naming_the_permission(harbor_fake, registry, path, tmp_path):
    digest = push(registry, path, "old")["old"]
    harbor_fake.deny_deletes()
    with harbor_client(harbor_fake, registry, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.delete_tag(harbor_fake.repo(path), "old", digest, False)
    assert "FORBIDDEN" in caught.value.message or "forbidden" in caught.value.message
    assert PERMISSION in caught.value.hint


def test_basic_credentials_go_only_to_the_registrys_own_api_and_token_service(harbor_fake, registry, path, tmp_path):
    pushed = push(registry, path, "old", "keep")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        client.deleter.preflight(harbor_fake.repo(path))
        RegistryBackend(client).describe(harbor_fake.repo(path), ["keep"])
        delete(client, harbor_fake.repo(path), ("old", pushed["old"]))

    for _, asked, _, authorization in harbor_fake.log:
        if asked.startswith("/v2/"):
            assert authorization is None or authorization.startswith("Bearer ")
        elif authorization is not None:
            assert authorization.startswith("Basic ")
            assert asked.startswith(("/api/v2.0/", "/service/token"))
    assert any(p.startswith("/api/") and a and a.startswith("Basic ") for _, p, _, a in harbor_fake.log)


def test_a_next_page_on_another_host_is_not_sent_the_credentials(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    elsewhere = Recorder()
    try:
        harbor_fake.inject(
            lambda method, asked: method == "GET" and asked.endswith("/artifacts"),
            200,
            headers={"Link": f'<http://127.0.0.1:{elsewhere.server_address[1]}/api/v2.0/page2>; rel="next"'},
            body=[{"digest": "sha256:" + "2" * 64, "tags": [{"name": "a"}]}],
        )
        with harbor_client(harbor_fake, registry, tmp_path) as client, pytest.raises(RegistryError, match="another host"):
            client.deleter.listed_digests(harbor_fake.repo(path))
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    assert elsewhere.seen == []


def test_listed_digests_pages_through_the_artifacts_with_their_tags(harbor_fake, registry, path, tmp_path):
    pushed = push(registry, path, *(f"v{i}" for i in range(5)))
    tag_also(registry, path, pushed["v0"], "w-same-as-v0")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        deleter = client.deleter
        assert isinstance(deleter, HarborDeleter)
        deleter.page_size = 2
        listed = deleter.listed_digests(harbor_fake.repo(path))

    assert listed == {**pushed, "w-same-as-v0": pushed["v0"]}
    pages = [p for _, p, s, _ in harbor_fake.requests("GET", "/artifacts") if s == 200]
    assert [p.split("page=")[1].split("&")[0] for p in pages] == ["1", "2", "3"]
    assert all("with_tag=true" in p and "page_size=2" in p for p in pages)


def test_credentials_that_may_not_list_artifacts_fall_back_to_heads(harbor_fake, registry, path, tmp_path):
    push(registry, path, "a")
    harbor_fake.users[harbor_fake.user].grants.discard("artifact:list")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        assert client.deleter.listed_digests(harbor_fake.repo(path)) is None


def test_a_warm_describe_takes_digests_from_the_listing_not_a_head_per_tag(harbor_fake, registry, path, tmp_path):
    tags = [f"m{i}" for i in range(8)]
    push(registry, path, *tags)
    cache = ContentCache(tmp_path / "cache")
    repo = harbor_fake.repo(path)
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        backend = RegistryBackend(client, cache)
        cold = backend.describe(repo, tags)
        mark = len(harbor_fake.log)
        warm = backend.describe(repo, tags)
    after = harbor_fake.log[mark:]

    assert {t: d.digest for t, d in warm.items()} == {t: d.digest for t, d in cold.items()}
    assert not [p for m, p, _, _ in after if m == "HEAD"], "a HEAD per tag"
    assert [p for m, p, s, _ in after if m == "GET" and s == 200 and "/artifacts" in p]


def test_a_once_encoded_repository_name_is_not_harbors(harbor_fake, registry, path, tmp_path):
    """The fake is as strict as Harbor's router: what makes the double encoding above necessary."""
    push(registry, path, "a")
    with harbor_client(harbor_fake, registry, tmp_path) as client:
        deleter = client.deleter
        project, name = path.split("/", 1)
        once = name.replace("/", "%2F")
        response = deleter._call("GET", harbor_fake.repo(path), f"/projects/{project}/repositories/{once}/artifacts")
        twice = deleter._call(
            "GET", harbor_fake.repo(path), f"/projects/{project}/repositories/{repository_segment(name)}/artifacts"
        )
    assert (response.status, twice.status) == (404, 200)


def test_auto_finds_harbor_on_a_host_without_harbor_in_its_name_by_probing_its_api(harbor_fake, registry, tmp_path):
    assert "harbor" not in harbor_fake.host
    with vendor_client(registry, harbor_fake, tmp_path, "default") as client:
        found, why = resolve_implementation("auto", harbor_fake.host, "--repo-implementation", client)
        assert probe_implementation(client, harbor_fake.host) == RepoImplementation.HARBOR
    assert found == RepoImplementation.HARBOR and "/api/v2.0/systeminfo" in why
    [probe] = [r for r in harbor_fake.requests("GET", "/api/v2.0/systeminfo")][:1]
    assert probe[2] == 200 and probe[3] is None  # anonymous: Harbor answers it without credentials


def test_auto_on_a_plain_registry_is_default_and_a_harbor_name_alone_decides_nothing(registry, tmp_path):
    with registry_client(registry.options()) as client:
        found, _ = resolve_implementation("auto", registry.host, "--repo-implementation", client)
    assert found == RepoImplementation.DEFAULT
    assert detect("harbor.example.com") is None
