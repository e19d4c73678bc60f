"""The ``ecr`` implementation against a fake of the ECR API and registry
(tests/fixtures/vendor_ecr.py) in front of the real registry: a tag goes by ``BatchDeleteImage``
with its tag and the digest it was checked at (up to 100 per call; a tag pushed again since is not
deleted) and alone — a tag sharing its digest with a staying tag goes
and the staying tag keeps the image; the pre-flight proves the AWS credentials may delete; a
throttled call is a rate limit with a wait and a 5xx is retryable; the registry gets an ECR token
and nothing else, the API the SigV4 signature; ``DescribeImages`` gives every tag's digest."""

from __future__ import annotations

import base64
import logging

import pytest

from adapters.cache import ContentCache
from adapters.registry import DOCKER_MANIFEST, RegistryClient
from adapters.registry.vendors import ecr, registry_client
from adapters.registry.vendors.ecr import EcrDeleter, parse_registry_host
from adapters.storage.preflight import check_delete_permitted
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation, detect
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import delete_by_tag as delete
from tests.adapters.registry.vendors.helpers import push_through as push
from tests.fixtures.vendor_ecr import PROBE, EcrFake

pytestmark = pytest.mark.registry

PERMISSION = IMPLEMENTATIONS[RepoImplementation.ECR].permission
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture
def aws(ecr_fake, tmp_path, monkeypatch) -> EcrFake:
    """The standard AWS environment pointing at the fake with its access key (nothing from ~/.aws)."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ecr_fake.aws_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return ecr_fake


@pytest.fixture
def repo(ecr_fake, unique_repo) -> str:
    return ecr_fake.repo(f"{unique_repo}/app")


def ecr_client(registry, fake: EcrFake, tmp_path, **options) -> RegistryClient:
    """A client with an empty Docker config: its registry credentials are ECR tokens."""
    client = registry_client(
        registry.options(docker_config=fake.empty_docker_config(tmp_path / "docker"), implementation="ecr", **options)
    )
    assert isinstance(client.deleter, EcrDeleter)  # the deleter answers the registry's challenge with a token
    return client


@pytest.fixture
def client(registry, aws, tmp_path):
    with ecr_client(registry, aws, tmp_path) as client:
        yield client


def tag_deletes(fake: EcrFake) -> list[dict]:
    """The BatchDeleteImage requests other than the pre-flight's probe."""
    return [doc for _, doc, _ in fake.operations("BatchDeleteImage") if PROBE not in str(doc)]


def path_of(repo: str) -> str:
    return repo.split("/", 1)[1]


# -- deletes ---------------------------------------------------------------------------------
def test_a_delete_removes_exactly_the_tag_with_one_batch_delete_by_tag_and_digest_and_the_image_with_its_last_tag(
    client, aws, repo
):
    a, b, _ = (push(client, repo, tag) for tag in ("a", "b", "c"))

    results = delete(client, repo, ("a", a))

    assert results["a"].outcome == "deleted"
    assert sorted(client.list_tags(repo)) == ["b", "c"]
    assert tag_deletes(aws) == [
        {"repositoryName": path_of(repo), "imageIds": [{"imageTag": "a", "imageDigest": a}]}
    ]  # no registryId: the default registry
    assert client.head_manifest(repo, a) is None  # its last tag went: so did the image
    assert client.head_manifest(repo, b) == b
    assert not aws.requests("DELETE")  # never the Registry API's manifest delete (ECR refuses it)


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_deleted_alone_and_the_staying_tag_keeps_the_image(client, aws, repo):
    digest = push(client, repo, "keep")
    push(client, repo, "go", same_as="keep")
    assert client.deleter.deletes_tag_alone(repo)

    results = delete(client, repo, ("go", digest))

    assert (results["go"].outcome, results["go"].reason) == ("deleted", None)
    assert client.list_tags(repo) == ["keep"]
    assert client.head_manifest(repo, "keep") == digest
    assert client.head_manifest(repo, digest) == digest


def test_a_tag_already_gone_is_already_gone_and_the_others_of_its_call_are_deleted(client, aws, repo):
    a = push(client, repo, "a")
    push(client, repo, "b")

    outcomes = client.deleter.delete_tags(repo, [("gone", a, False), ("a", a, False)])

    assert outcomes == [Outcome.ALREADY_GONE, Outcome.DELETED]
    assert client.list_tags(repo) == ["b"]
    assert len(tag_deletes(aws)) == 1


def test_more_than_100_tags_go_in_calls_of_at_most_100(client, aws, repo):
    first = push(client, repo, "t000")
    tags = [f"t{i:03d}" for i in range(150)]
    manifest = client.get_manifest(repo, "t000")
    client.map_concurrent(lambda tag: client.put_manifest(repo, tag, manifest.raw, DOCKER_MANIFEST), tags[1:])

    outcomes = client.deleter.delete_tags(repo, [(tag, first, True) for tag in tags])

    assert outcomes == [Outcome.DELETED] * 150
    assert sorted(len(doc["imageIds"]) for doc in tag_deletes(aws)) == [50, 100]
    assert client.list_tags(repo) == []


# -- pre-flight ------------------------------------------------------------------------------
def test_the_preflight_passes_with_delete_rights_and_deletes_nothing(client, aws, repo):
    push(client, repo, "a")
    client.deleter.preflight(repo)

    assert [name for name, _, _ in aws.operations()] == ["GetAuthorizationToken", "DescribeRepositories", "BatchDeleteImage"]
    assert aws.operations("BatchDeleteImage")[0][1]["imageIds"] == [{"imageDigest": PROBE}]
    assert client.list_tags(repo) == ["a"]


def test_keys_without_batch_delete_image_stop_the_preflight_naming_implementation_permission_and_variables(
    registry, aws, repo, tmp_path
):
    with ecr_client(registry, aws, tmp_path) as client:
        push(client, repo, "a")
        aws.deny_deletes()
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(repo, client.options)
    error = caught.value
    assert "ecr:BatchDeleteImage" in error.message and "AccessDeniedException" in error.message
    assert "ecr implementation" in str(error) and PERMISSION in str(error) and "AWS_PROFILE" in str(error)
    assert "Nothing was deleted" in str(error)
    assert tag_deletes(aws) == [] and aws.disk.tags(path_of(repo)).keys() == {"a"}


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("AKIAUNKNOWNUNKNOWN00", "whatever-secret", "UnrecognizedClientException"),
        (None, "not-the-secret-of-the-key", "InvalidSignatureException"),
    ],
    ids=["unknown-key", "wrong-secret"],
)
def test_credentials_aws_does_not_accept_stop_the_preflight_naming_the_variables(
    registry, aws, repo, tmp_path, monkeypatch, key, secret, code
):
    with ecr_client(registry, aws, tmp_path) as pusher:
        push(pusher, repo, "a")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key or aws.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    with pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(repo, registry.options(implementation="ecr"))

    error = caught.value
    assert error.code == code and error.status == 403
    assert "AWS_ACCESS_KEY_ID" in str(error) and "AWS_PROFILE" in str(error)
    assert "ecr implementation" in str(error) and PERMISSION in str(error)
    assert secret not in str(error)
    assert tag_deletes(aws) == [] and aws.disk.tags(path_of(repo)).keys() == {"a"}


def test_no_aws_credentials_at_all_stop_the_preflight_before_any_api_call(registry, aws, repo, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(repo, registry.options(implementation="ecr"))

    error = caught.value
    assert error.status == 401 and "NoCredentialsError" in error.message
    assert "ecr:GetAuthorizationToken" in str(error) and "AWS_PROFILE" in str(error) and "AWS_ACCESS_KEY_ID" in str(error)
    assert "ecr implementation" in str(error)
    assert aws.operations() == []


def test_keys_without_get_authorization_token_are_refused_naming_that_permission(registry, aws, repo, monkeypatch):
    key, secret = aws.add_key(grants={"ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchDeleteImage"})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    with pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(repo, registry.options(implementation="ecr"))

    assert "ecr:GetAuthorizationToken" in caught.value.message and PERMISSION in str(caught.value)


def test_a_repository_ecr_does_not_know_stops_the_preflight_naming_it_and_the_region(registry, aws, unique_repo):
    missing = aws.repo(f"{unique_repo}/never-pushed")

    with pytest.raises(RegistryError) as caught:
        check_delete_permitted(missing, registry.options(implementation="ecr"))

    error = caught.value
    assert not isinstance(error, RegistryAuthError) and not error.retryable
    assert f"{unique_repo}/never-pushed does not exist" in error.message and "us-east-1" in error.message
    assert "AWS_REGION" in str(error)
    assert aws.operations("BatchDeleteImage") == []


# -- rate limits and failures ----------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 429], ids=["throttling-400", "too-many-requests-429"])
def test_a_throttled_delete_is_a_retryable_rate_limit_with_a_wait_and_botocore_does_not_retry_it(client, aws, repo, status):
    a, b = push(client, repo, "a"), push(client, repo, "b")
    aws.throttle(times=1, status=status)

    outcomes = client.deleter.delete_tags(repo, [("a", a, False), ("b", b, False)])

    assert all(isinstance(o, RegistryRateLimited) and o.retryable and o.retry_after == ecr.THROTTLE_WAIT for o in outcomes)
    assert outcomes[0].code == "ThrottlingException"
    assert [s for _, _, s in aws.operations("BatchDeleteImage")] == [status]  # one attempt: the retry is ours
    assert sorted(client.list_tags(repo)) == ["a", "b"]
    assert client.deleter.delete_tags(repo, [("a", a, False), ("b", b, False)]) == [Outcome.DELETED] * 2


def test_a_throttled_delete_through_the_backend_is_a_failed_row_carrying_the_wait(client, aws, repo):
    a = push(client, repo, "a")
    aws.rate_limit_deletes(times=1)

    results = delete(client, repo, ("a", a))

    assert (results["a"].outcome, results["a"].retryable, results["a"].retry_after) == ("failed", True, ecr.THROTTLE_WAIT)


def test_a_server_error_on_a_delete_is_retryable_and_the_same_delete_then_succeeds(client, aws, repo):
    a = push(client, repo, "a")
    aws.fail_deletes(status=500, times=1)

    first = delete(client, repo, ("a", a))

    assert (first["a"].outcome, first["a"].retryable) == ("failed", True)
    assert "ServerException" in (first["a"].error or "")
    assert client.list_tags(repo) == ["a"]
    again = delete(client, repo, ("a", a))
    assert again["a"].outcome == "deleted"
    assert client.list_tags(repo) == []


def test_keys_that_lose_the_delete_permission_mid_run_stop_the_deletes_naming_the_permission(client, aws, repo):
    a = push(client, repo, "a")
    aws.deny_deletes()

    with pytest.raises(RegistryAuthError) as caught:
        client.deleter.delete_tags(repo, [("a", a, False)])

    assert "ecr:BatchDeleteImage" in caught.value.message
    assert client.list_tags(repo) == ["a"]


# -- credentials -----------------------------------------------------------------------------
def test_the_registry_gets_only_an_ecr_token_and_the_api_only_the_sigv4_signature(client, aws, repo):
    a = push(client, repo, "a")
    push(client, repo, "b")
    client.deleter.preflight(repo)
    delete(client, repo, ("a", a))

    issued = set(aws.token_expiry)
    assert issued
    registry_auth = [auth for _, path, _, auth in aws.log if path.startswith("/v2")]
    api_auth = [auth for method, path, _, auth in aws.log if (method, path) == ("POST", "/")]
    assert registry_auth and api_auth
    for auth in registry_auth:
        if auth is not None:
            user, _, password = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
            assert auth.startswith("Basic ") and user == "AWS" and password in issued
    for auth in api_auth:
        assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={aws.access_key}/")
        assert not any(password in auth for password in issued)
    assert not any(auth and aws.secret_key in auth for _, _, _, auth in aws.log)


def test_a_token_is_given_only_to_the_host_it_was_issued_for(client, aws):
    credentials = client.transport.auth.credentials
    assert credentials.lookup("registry.example.com:5000") is None
    found = credentials.lookup(aws.host)
    assert found is not None and found.username == "AWS" and found.password in aws.token_expiry
    assert len(aws.operations("GetAuthorizationToken")) == 1  # the token is cached per region


def test_a_read_without_aws_credentials_names_the_aws_variables(registry, aws, repo, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with ecr_client(registry, aws, tmp_path) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.list_tags(repo)
    assert "cannot get an ECR registry token" in caught.value.message
    assert "AWS_PROFILE" in str(caught.value) and "ecr:GetAuthorizationToken" in str(caught.value)


def test_credentials_of_the_docker_config_come_before_an_ecr_token(registry, aws, tmp_path):
    aws.add_user("builder", "docker-config-password")
    config = aws.write_docker_config(tmp_path / "docker-with-entry", "builder")
    with registry_client(registry.options(docker_config=config, implementation="ecr")) as client:
        assert isinstance(client.deleter, EcrDeleter)
        found = client.transport.auth.credentials.lookup(aws.host)
    assert (found.username, found.password) == ("builder", "docker-config-password")
    assert aws.operations("GetAuthorizationToken") == []


# -- where -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com", ("123456789012", "eu-central-1")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ("123456789012", "cn-north-1")),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com:443", ("123456789012", "us-gov-west-1")),
        ("123456789012.dkr-ecr.eu-central-1.on.aws", ("123456789012", "eu-central-1")),
        ("123456789012.dkr-ecr-fips.us-east-1.on.aws", ("123456789012", "us-east-1")),
        ("123456789012.dkr-ecr.eu-central-1.amazonaws.com", None),
        ("public.ecr.aws", None),
        ("127.0.0.1:5000", None),
        ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),
    ],
)
def test_the_registry_host_names_account_and_region(host, expected):
    assert parse_registry_host(host) == expected


def test_an_ecr_host_sets_registry_id_and_region_and_another_host_uses_aws_region(registry, aws):
    with registry_client(registry.options(implementation="ecr")) as client:
        deleter = client.deleter
        on_ecr = deleter.repository("123456789012.dkr.ecr.eu-central-1.amazonaws.com/team/app")
        elsewhere = deleter.repository(aws.repo("team/app"))
    assert (on_ecr.registry_id, on_ecr.region, on_ecr.name) == ("123456789012", "eu-central-1", "team/app")
    assert on_ecr.params() == {"repositoryName": "team/app", "registryId": "123456789012"}
    assert (elsewhere.registry_id, elsewhere.region) == (None, aws.region)
    assert detect("123456789012.dkr.ecr.eu-central-1.amazonaws.com") == RepoImplementation.ECR
    assert detect("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == RepoImplementation.ECR
    assert detect("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com") == RepoImplementation.ECR
    assert detect("123456789012.dkr-ecr.eu-central-1.on.aws") == RepoImplementation.ECR  # dual-stack


def test_a_dual_stack_host_names_the_registry_and_its_reads_get_an_ecr_token_of_that_region(registry, aws, tmp_path):
    dual = f"123456789012.dkr-ecr.{aws.region}.on.aws"  # the fake serves one region
    with ecr_client(registry, aws, tmp_path) as client:
        target = client.deleter.repository(f"{dual}/team/app")
        found = client.transport.auth.credentials.lookup(dual)
    assert (target.registry_id, target.region, target.name) == ("123456789012", aws.region, "team/app")
    assert found is not None and found.username == "AWS" and found.password in aws.token_expiry


def test_a_tag_pushed_again_after_its_recheck_is_not_deleted_and_keeps_its_new_image(client, aws, repo):
    checked = push(client, repo, "moving")
    push(client, repo, "other")
    pushed_again = push(client, repo, "moving-source")
    client.put_manifest(repo, "moving", client.get_manifest(repo, pushed_again).raw, DOCKER_MANIFEST)

    [outcome] = client.deleter.delete_tags(repo, [("moving", checked, False)])

    assert isinstance(outcome, RegistryError) and outcome.code == "TAG_MOVED" and not outcome.retryable
    assert "pushed again" in outcome.message
    assert client.head_manifest(repo, "moving") == pushed_again
    assert tag_deletes(aws)[0]["imageIds"] == [{"imageTag": "moving", "imageDigest": checked}]


def test_without_a_region_for_a_host_that_names_none_the_error_names_aws_region(registry, aws, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    with registry_client(registry.options(implementation="ecr")) as client:
        with pytest.raises(RegistryError) as caught:
            client.deleter.repository(aws.repo("team/app"))
    assert "AWS_REGION" in str(caught.value) and "ecr implementation" in caught.value.message


# -- listing ---------------------------------------------------------------------------------
def test_listed_digests_pages_through_describe_images_and_gives_every_tag_s_digest(client, aws, repo, monkeypatch):
    monkeypatch.setattr(ecr, "PAGE_SIZE", 3)
    pushed = {f"t{i}": push(client, repo, f"t{i}") for i in range(7)}
    pushed["t0-again"] = push(client, repo, "t0-again", same_as="t0")

    listed = client.deleter.listed_digests(repo)

    assert listed == pushed
    pages = [doc for _, doc, _ in aws.operations("DescribeImages")]
    assert len(pages) == 3 and "nextToken" not in pages[0] and all("nextToken" in p for p in pages[1:])
    assert all(p["maxResults"] == 3 and p["filter"] == {"tagStatus": "TAGGED"} for p in pages)


def test_listed_digests_is_none_when_describe_images_is_refused(client, aws, repo):
    push(client, repo, "a")
    aws.users[aws.access_key].grants.discard("ecr:DescribeImages")
    assert client.deleter.listed_digests(repo) is None


def test_a_warm_describe_takes_digests_from_the_listing_instead_of_a_head_per_tag(client, aws, repo, tmp_path):
    tags = [f"m{i}" for i in range(5)]
    for tag in tags:
        push(client, repo, tag)
    backend = RegistryBackend(client, cache=ContentCache(tmp_path / "cache"))
    cold = backend.describe(repo, tags)
    heads_before = len(aws.requests("HEAD", "/manifests/"))
    listings_before = len(aws.operations("DescribeImages"))

    warm = backend.describe(repo, tags)

    assert {t: d.digest for t, d in warm.items()} == {t: d.digest for t, d in cold.items()}
    assert len(aws.requests("HEAD", "/manifests/")) == heads_before
    assert len(aws.operations("DescribeImages")) == listings_before + 1


def test_the_ecr_token_never_reaches_the_logs_even_at_debug(client, aws, repo, caplog):
    caplog.set_level(logging.DEBUG)
    push(client, repo, "a")
    client.deleter.preflight(repo)

    issued = set(aws.token_expiry)
    tokens = {base64.b64encode(f"AWS:{password}".encode()).decode() for password in issued}
    assert issued and "GetAuthorizationToken" in caplog.text  # botocore did log at DEBUG
    assert not any(secret in caplog.text for secret in issued | tokens)
    assert aws.secret_key not in caplog.text


def test_a_tag_the_vendor_finds_pushed_again_is_kept_as_tag_moved_not_failed(client, aws, repo):
    from adapters.storage.registry_store import RegistryBackend

    checked = push(client, repo, "moving")
    pushed_again = push(client, repo, "moving-source")
    deleter = client.deleter
    real_delete = deleter.delete_tags

    def push_between_check_and_delete(repository, items):
        # another CI job pushes the tag again after the batch checked it, before ECR gets the delete
        client.put_manifest(repo, "moving", client.get_manifest(repo, pushed_again).raw, DOCKER_MANIFEST)
        return real_delete(repository, items)

    deleter.delete_tags = push_between_check_and_delete
    backend = RegistryBackend(client, None)
    [[result]] = backend.delete(repo, [[("moving", checked)]], 2, leaving={"moving"})
    assert result.outcome == "kept" and result.reason == "tag-moved" and "pushed again" in result.detail
    assert client.head_manifest(repo, "moving") == pushed_again
