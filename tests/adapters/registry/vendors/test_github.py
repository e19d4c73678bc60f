"""The ``github`` implementation against a fake of ghcr.io and the GitHub Packages API
(tests/fixtures/vendor_github.py) in front of the real registry: a tag goes by deleting the
package version of its digest, a tag sharing its digest with a staying tag is kept, the pre-flight
proves the token may delete, rate limits and server errors are retryable, the token goes to the
API base only, and the version listing gives every tag's digest."""

from __future__ import annotations

import urllib.parse

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors.github import GitHubDeleter
from adapters.storage.preflight import check_delete_permitted
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryRateLimited
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import delete_by_tag as delete
from tests.adapters.registry.vendors.helpers import push_through as push
from tests.adapters.registry.vendors.helpers import vendor_client
from tests.fixtures.vendor_github import GitHubFake, version_id

pytestmark = pytest.mark.registry


@pytest.fixture
def env(github_fake, monkeypatch):
    """The API at the fake, the token of the fake's user in GITHUB_TOKEN."""
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", github_fake.token)
    monkeypatch.setenv("GITHUB_API_URL", github_fake.url)
    return github_fake


@pytest.fixture
def repo(github_fake, unique_repo) -> str:
    return github_fake.repo(f"{unique_repo}/app")


def versions_path(fake: GitHubFake, repo: str, kind: str = "user") -> str:
    """``/user/packages/…`` (the token user's own) or ``/orgs/<owner>/packages/…``."""
    owner, _, package = repo.split("/", 1)[1].partition("/")
    prefix = "user" if kind == "user" else f"{kind}/{owner}"
    return f"/{prefix}/packages/container/{urllib.parse.quote(package, safe='')}/versions"


def organisation_owned(fake: GitHubFake, repo: str) -> None:
    """The repository's owner becomes an organisation (any token of the fake may use its packages)."""
    fake.organisations.add(repo.split("/")[1])


def api_requests(fake: GitHubFake, method: str | None = None) -> list[tuple[str, str, int, str | None]]:
    return [r for r in fake.requests(method) if not r[1].startswith(("/v2", "/token"))]


def client_for(registry, fake: GitHubFake, tmp_path, user: str | None = None, **options) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "github", user, config_dir=f"docker-{user or fake.user}", **options)


# -- deletes ---------------------------------------------------------------------------------
def test_a_delete_removes_the_package_version_of_the_tag_s_digest_and_no_other_tag(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        a, _, _ = (push(client, repo, tag) for tag in ("a", "b", "c"))
        results = delete(client, repo, ("a", a))
        assert results["a"].outcome == "deleted"
        assert sorted(client.list_tags(repo)) == ["b", "c"]
    assert [(m, p, s) for m, p, s, _ in api_requests(fake, "DELETE")] == [
        ("DELETE", f"{versions_path(fake, repo)}/{version_id(a)}", 204)
    ]
    assert not fake.requests("DELETE", "/v2/")  # never the Registry API's manifest delete
    assert all(
        h.get("Accept") == "application/vnd.github+json" and h.get("X-GitHub-Api-Version") == "2022-11-28"
        for h in fake.api_headers
    )


def test_an_organisation_s_package_goes_through_the_orgs_path_and_the_owner_is_asked_once(registry, env, repo, tmp_path):
    fake = env
    fake.organisations.add(repo.split("/")[1])
    with client_for(registry, fake, tmp_path) as client:
        a, b, _ = (push(client, repo, tag) for tag in ("a", "b", "c"))
        assert delete(client, repo, ("a", a))["a"].outcome == "deleted"
        assert delete(client, repo, ("b", b))["b"].outcome == "deleted"
        assert client.list_tags(repo) == ["c"]
    paths = [p for _, p, _, _ in api_requests(fake, "DELETE")]
    assert paths == [f"{versions_path(fake, repo, 'orgs')}/{version_id(d)}" for d in (a, b)]
    assert len([r for r in api_requests(fake, "GET") if r[1].startswith("/users/")]) == 1


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_kept_and_nothing_is_deleted(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        digest = push(client, repo, "old")
        push(client, repo, "production", same_as="old")
        push(client, repo, "other")
        results = delete(client, repo, ("old", digest))
        assert (results["old"].outcome, results["old"].reason) == ("kept", "shared-digest")
        assert sorted(client.list_tags(repo)) == ["old", "other", "production"]
        assert client.head_manifest(repo, "production") == digest
    assert api_requests(fake, "DELETE") == []


def test_tags_of_one_digest_deleted_together_cost_one_version_delete(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        digest = push(client, repo, "a")
        push(client, repo, "b", same_as="a")
        push(client, repo, "stays")
        results = delete(client, repo, ("a", digest), ("b", digest))
        assert sorted(r.outcome for r in results.values()) == ["already-gone", "deleted"]
        assert client.list_tags(repo) == ["stays"]
    assert len(api_requests(fake, "DELETE")) == 1


def test_a_version_deleted_behind_the_deleter_s_back_is_already_gone_and_a_new_digest_is_found(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        gone, _ = (push(client, repo, tag) for tag in ("gone", "stays"))
        deleter = client.deleter
        assert isinstance(deleter, GitHubDeleter)
        assert deleter.listed_digests(repo)["gone"] == gone  # the listing is now cached
        fake.delete_manifest(repo.split("/", 1)[1], gone)
        assert deleter.delete_tag(repo, "gone", gone, False) == Outcome.ALREADY_GONE
        new = push(client, repo, "new")  # not in the cached listing: listed again once
        listings = len(fake.requests("GET", "/versions"))
        assert deleter.delete_tag(repo, "new", new, False) == Outcome.DELETED
        assert len(fake.requests("GET", "/versions")) == listings + 1
        assert client.list_tags(repo) == ["stays"]


def test_deleting_the_last_tagged_version_deletes_the_package_as_github_asks(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        only = push(client, repo, "only")
        result = delete(client, repo, ("only", only))["only"]
        assert result.outcome == "deleted"
        assert client.list_tags(repo) == []
    refused, removed = [(p, s) for _, p, s, _ in api_requests(fake, "DELETE")]
    assert refused == (f"{versions_path(fake, repo)}/{version_id(only)}", 400)
    assert removed == (versions_path(fake, repo).removesuffix("/versions"), 204)


def test_a_package_github_will_not_delete_keeps_its_last_version_and_says_exactly_why(registry, env, repo, tmp_path):
    fake = env
    fake.package_delete_refusal = "Publicly visible package versions with more than 5000 downloads cannot be deleted."
    with client_for(registry, fake, tmp_path) as client:
        only = push(client, repo, "only")
        result = delete(client, repo, ("only", only))["only"]
        assert client.list_tags(repo) == ["only"]
    assert (result.outcome, result.retryable) == ("failed", False)
    assert "last tagged version" in result.error and "5000 downloads" in result.error and "not deleted" in result.error


# -- whose packages ----------------------------------------------------------------------------
def test_another_users_packages_are_refused_before_anything_is_deleted_naming_the_token_that_would_do(
    registry, env, repo, tmp_path, monkeypatch
):
    fake = env
    monkeypatch.setenv("GITHUB_TOKEN", fake.add_github_user("someone-else"))
    with client_for(registry, fake, tmp_path) as client:
        digest = push(client, repo, "a")
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
        with pytest.raises(RegistryAuthError):
            delete(client, repo, ("a", digest))
        assert client.list_tags(repo) == ["a"]
    text = str(caught.value)
    assert "someone-else" in text and "only its own user's packages" in text and "/user/packages" in text
    assert api_requests(fake, "DELETE") == []
    assert not [p for _, p, _, _ in api_requests(fake) if "/packages/" in p and p.startswith("/users/")]


def test_an_actions_token_on_a_users_package_is_refused_with_githubs_reason_and_nothing_deleted(
    registry, env, repo, tmp_path, monkeypatch
):
    fake = env
    monkeypatch.setenv("GITHUB_TOKEN", fake.add_github_user("github-actions", integration=True))
    with client_for(registry, fake, tmp_path) as client:
        push(client, repo, "a")
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
        assert client.list_tags(repo) == ["a"]
    assert "Resource not accessible by integration" in str(caught.value) and "/user/packages" in str(caught.value)
    assert api_requests(fake, "DELETE") == []


def test_an_actions_token_deletes_an_organisations_package_through_the_orgs_path(registry, env, repo, tmp_path, monkeypatch):
    fake = env
    organisation_owned(fake, repo)
    monkeypatch.setenv("GITHUB_TOKEN", fake.add_github_user("github-actions", integration=True))
    with client_for(registry, fake, tmp_path) as client:
        a, _ = (push(client, repo, tag) for tag in ("a", "b"))
        check_delete_permitted(repo, client.options)
        assert delete(client, repo, ("a", a))["a"].outcome == "deleted"
    assert [p for _, p, _, _ in api_requests(fake, "DELETE")] == [f"{versions_path(fake, repo, 'orgs')}/{version_id(a)}"]


def test_docker_pkg_github_com_is_package_type_docker_and_needs_the_repo_scope_too(registry):
    with RegistryClient(registry.options(implementation="github")) as client:
        deleter = GitHubDeleter(client, {"GITHUB_TOKEN": "t"})
        old = deleter._package("docker.pkg.github.com/octo/service/api")
        new = deleter._package("ghcr.io/octo/service/api")
    assert (old.type, old.owner, old.name, old.scopes) == ("docker", "octo", "api", ("delete:packages", "repo"))
    assert (new.type, new.owner, new.name, new.scopes) == ("container", "octo", "service/api", ("delete:packages",))
    assert deleter._url("user", old, "/versions") == "https://api.github.com/user/packages/docker/api/versions"


# -- pre-flight ------------------------------------------------------------------------------
def test_preflight_refuses_a_token_without_delete_packages_naming_implementation_permission_and_variables(
    registry, env, repo, tmp_path, monkeypatch
):
    fake = env
    organisation_owned(fake, repo)  # the token's scopes decide, not whose package it is
    reader = fake.add_github_user("reader", {"read:packages", "write:packages"})
    monkeypatch.setenv("GITHUB_TOKEN", reader)
    with client_for(registry, fake, tmp_path) as client:
        push(client, repo, "a")
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
        text = str(caught.value)
        assert "github" in text and "delete:packages" in text and "GITHUB_TOKEN" in text and "GH_TOKEN" in text
        assert "read:packages, write:packages" in text  # the scopes the token has
        assert client.list_tags(repo) == ["a"]
    assert api_requests(fake, "DELETE") == []
    assert reader not in text


def test_preflight_refuses_a_bad_token_with_401_naming_implementation_permission_and_variables(
    registry, env, repo, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not-a-token")
    with client_for(registry, env, tmp_path) as client:
        push(client, repo, "a")
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
    error = caught.value
    assert error.status == 401
    assert "Bad credentials" in str(error) and "the token from GITHUB_TOKEN" in str(error)
    assert "github" in str(error) and "delete:packages" in str(error) and "GITHUB_TOKEN" in str(error)
    assert "ghp_not-a-token" not in str(error)


@pytest.mark.parametrize("case", ["no read:packages (403)", "unknown package (404)"])
def test_preflight_refuses_a_token_that_cannot_list_the_package(registry, env, repo, tmp_path, monkeypatch, case):
    fake = env
    organisation_owned(fake, repo)
    if case.startswith("no read"):
        monkeypatch.setenv("GITHUB_TOKEN", fake.add_github_user("blind", {"delete:packages"}))
    with client_for(registry, fake, tmp_path) as client:
        if case.startswith("no read"):
            push(client, repo, "a")
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
    assert caught.value.status == (403 if case.startswith("no read") else 404)
    assert "github" in str(caught.value) and "delete:packages" in str(caught.value) and "GITHUB_TOKEN" in str(caught.value)


def test_preflight_without_any_token_names_the_variables_and_docker_login_and_asks_nothing(
    registry, env, repo, tmp_path, monkeypatch
):
    fake = env
    monkeypatch.delenv("GITHUB_TOKEN")
    config = tmp_path / "empty"
    config.mkdir()
    (config / "config.json").write_text("{}")
    options = registry.options(docker_config=str(config), implementation="github")
    with pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(repo, options)
    text = str(caught.value)
    assert all(word in text for word in ("github", "GITHUB_TOKEN", "GH_TOKEN", f"docker login {fake.host}", "delete:packages"))
    assert api_requests(fake) == []


def test_preflight_passes_a_classic_token_with_delete_packages_and_a_token_without_scope_header(
    registry, env, repo, tmp_path, monkeypatch
):
    fake = env
    organisation_owned(fake, repo)
    with client_for(registry, fake, tmp_path) as client:
        push(client, repo, "a")
        check_delete_permitted(repo, client.options)
        monkeypatch.setenv("GITHUB_TOKEN", fake.add_github_user("actions", {"read:packages"}, classic=False))
        check_delete_permitted(repo, client.options)
        assert client.list_tags(repo) == ["a"]
    assert api_requests(fake, "DELETE") == []


def test_the_docker_config_password_is_the_token_when_no_variable_is_set(registry, env, repo, tmp_path, monkeypatch):
    fake = env
    monkeypatch.delenv("GITHUB_TOKEN")
    with client_for(registry, fake, tmp_path) as client:
        a = push(client, repo, "a")
        push(client, repo, "b")
        check_delete_permitted(repo, client.options)
        assert delete(client, repo, ("a", a))["a"].outcome == "deleted"
    assert {auth for _, _, _, auth in api_requests(fake)} == {f"Bearer {fake.token}"}


# -- retryable failures ----------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 403])
def test_a_primary_rate_limit_on_a_delete_is_a_retryable_failure_with_retry_after(registry, env, repo, tmp_path, status):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        a, _ = (push(client, repo, tag) for tag in ("a", "b"))
        fake.rate_limit_deletes(retry_after=30, status=status)
        result = delete(client, repo, ("a", a))["a"]
        assert (result.outcome, result.retryable) == ("failed", True)
        assert 25 <= result.retry_after <= 31
        assert "rate limit" in result.error
        assert sorted(client.list_tags(repo)) == ["a", "b"]
        assert delete(client, repo, ("a", a))["a"].outcome == "deleted"


def test_a_secondary_rate_limit_waits_for_its_retry_after(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        a, _ = (push(client, repo, tag) for tag in ("a", "b"))
        fake.secondary_rate_limit_deletes(retry_after=7)
        with pytest.raises(RegistryRateLimited) as caught:
            client.deleter.delete_tag(repo, "a", a, False)
        assert caught.value.retryable and caught.value.retry_after == 7
        assert not isinstance(caught.value, RegistryAuthError)


def test_an_exhausted_rate_limit_in_the_preflight_is_retryable_not_a_refusal(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path, max_retry_after=0) as client:
        push(client, repo, "a")
        fake.exhaust_rate_limit(reset_in=20)
        with pytest.raises(RegistryRateLimited) as caught:
            client.deleter.preflight(repo)
        assert caught.value.retryable and 15 <= caught.value.retry_after <= 21
        assert caught.value.status == 403


def test_a_server_error_on_a_delete_is_a_retryable_failure_and_the_same_delete_then_succeeds(registry, env, repo, tmp_path):
    fake = env
    with client_for(registry, fake, tmp_path) as client:
        a, _ = (push(client, repo, tag) for tag in ("a", "b"))
        fake.fail_deletes(502)
        result = delete(client, repo, ("a", a))["a"]
        assert (result.outcome, result.retryable) == ("failed", True)
        assert client.head_manifest(repo, "a") == a
        assert delete(client, repo, ("a", a))["a"].outcome == "deleted"
        assert client.list_tags(repo) == ["b"]


# -- credentials -----------------------------------------------------------------------------
def test_the_token_goes_to_the_api_base_only_and_registry_credentials_to_the_registry_only(
    registry, env, repo, tmp_path, monkeypatch
):
    registry_side = env
    api = GitHubFake(registry)  # the API on another host than the registry
    try:
        api.add_github_user(registry_side.user)
        api.users[registry_side.user].secret = registry_side.token
        monkeypatch.delenv("GITHUB_TOKEN")  # the Docker config's password for the registry host
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        with client_for(registry, registry_side, tmp_path) as client:
            a = push(client, repo, "a")
            push(client, repo, "b")
            check_delete_permitted(repo, client.options)
            assert delete(client, repo, ("a", a))["a"].outcome == "deleted"
        pat = registry_side.token
        assert api_requests(api, "DELETE") and {auth for _, _, _, auth in api.log} == {f"Bearer {pat}"}
        assert all(not p.startswith(("/v2", "/token")) for _, p, _, _ in api.log)
        assert api_requests(registry_side) == []
        for _, path, _, auth in registry_side.log:
            assert (
                auth is None
                or (path.startswith("/token") and auth.startswith("Basic "))
                or (path.startswith("/v2") and auth.removeprefix("Bearer ") in registry_side.tokens)
            )
    finally:
        api.close()


def test_a_next_page_link_to_another_host_is_not_followed(registry, env, repo, tmp_path):
    fake = env
    elsewhere = GitHubFake(registry)
    try:
        with client_for(registry, fake, tmp_path) as client:
            a, _ = (push(client, repo, tag) for tag in ("a", "b"))
            fake.inject(
                lambda method, path: method == "GET" and path.endswith("/versions"),
                200,
                headers={"Link": f'<{elsewhere.url}{versions_path(fake, repo)}?page=2>; rel="next"'},
                body=[],
                times=10**6,
            )
            assert client.deleter.listed_digests(repo) is None
            result = delete(client, repo, ("a", a))["a"]
            assert result.outcome == "failed" and "another host" in result.error
        assert elsewhere.log == []
    finally:
        elsewhere.close()


def test_without_api_url_a_docker_password_for_another_host_is_never_sent_to_github(registry, env, repo, tmp_path, monkeypatch):
    fake = env
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.delenv("GITHUB_API_URL")
    with client_for(registry, fake, tmp_path) as client:
        push(client, repo, "a")
        with pytest.raises(RegistryAuthError, match="no token"):
            client.deleter.preflight(repo)
        assert client.deleter.listed_digests(repo) is None


# -- the listing -----------------------------------------------------------------------------
def test_listed_digests_pages_through_the_versions_and_gives_each_tag_s_digest(registry, env, repo, tmp_path):
    fake = env
    fake.max_per_page = 2
    with client_for(registry, fake, tmp_path) as client:
        for tag in ("a", "b", "c", "moved"):
            push(client, repo, tag)
        push(client, repo, "a2", same_as="a")
        client.push_manifest_only_image(repo, "moved", {"config": {"Labels": {"v": "2"}}})  # leaves an untagged version
        expected = {tag: client.head_manifest(repo, tag) for tag in client.list_tags(repo)}
        before = len(fake.requests("GET", "/versions"))
        listed = client.deleter.listed_digests(repo)
    assert listed == expected
    assert len(fake.versions(repo.split("/", 1)[1])) == 5
    assert len(fake.requests("GET", "/versions")) - before == 3  # 5 versions, 2 a page


def test_a_warm_describe_takes_digests_from_the_listing_instead_of_a_head_per_tag(registry, env, repo, tmp_path):
    fake = env
    cache = ContentCache(tmp_path / "cache")
    with client_for(registry, fake, tmp_path) as client:
        for tag in ("a", "b", "c"):
            push(client, repo, tag)
        push(client, repo, "d", same_as="a")
        tags = client.list_tags(repo)
        cold = RegistryBackend(client, cache=cache).describe(repo, tags)
    fake.log.clear()
    with client_for(registry, fake, tmp_path) as client:
        warm = RegistryBackend(client, cache=ContentCache(tmp_path / "cache")).describe(repo, tags)
    assert warm == cold
    assert fake.requests("HEAD", "/manifests/") == [] and fake.requests("GET", "/manifests/") == []
    assert len(fake.requests("GET", "/versions")) == 1
