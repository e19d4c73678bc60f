"""Kubernetes access as teams are granted it, against the fake API server: a user with a Role in
one namespace (403 at cluster scope and in other namespaces), the namespace scopes
(`--scan-context-namespace-only`, `--kube-scan-namespace`), a base64 kubeconfig, and the
in-cluster service account of a pod (token and CA files under a temp dir, host and port from the
environment)."""

from __future__ import annotations

import base64
import ssl
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import kube_access as kube
from adapters.kube import KubeOptions, KubeScan, scan_kube
from schemas.errors import KubeError
from tests.fixtures.kube_server import ENDPOINTS, FakeKubeServer
from tests.kube.tls import CertificateAuthority

REPO = "127.0.0.1:5000/acme/app"
ALL_KINDS = list(ENDPOINTS)


@pytest.fixture
def no_ambient_kubeconfig(monkeypatch, tmp_path) -> Path:
    """No KUBECONFIG, an empty HOME and no pod around: only what a test gives is found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", kube.KUBE_CONFIG_BASE64_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(kube.SERVICE_ACCOUNT_DIR_ENV, raising=False)
    return home


def seen(scan: KubeScan) -> set[tuple[str, str, str, str]]:
    """(context, namespace, name, image) of every row."""
    t = scan.images
    return set(zip(*(t[c].to_pylist() for c in ("context", "namespace", "name", "image"))))


def team_cluster(kube_server: FakeKubeServer, context: str = "team", namespace: str = "team-a") -> None:
    """A cluster whose user may list only `namespace`, running a Deployment there and one elsewhere."""
    kube_server.restrict(context, namespace)
    kube_server.add(context, "Deployment", "web", namespace=namespace, containers={"web": f"{REPO}:ours"})
    kube_server.add(context, "Deployment", "other", namespace="payments", containers={"app": f"{REPO}:theirs"})


# --------------------------------------------------------------------------- namespace scopes


def test_context_namespace_only_lists_each_contexts_own_namespace_and_never_the_cluster(kube_server, kubeconfig_factory) -> None:
    team_cluster(kube_server, "team", "team-a")
    kube_server.restrict("ops", "default")  # runs nothing in its namespace
    kube_server.add("ops", "Deployment", "other", namespace="payments", containers={"app": f"{REPO}:theirs"})
    config = kubeconfig_factory(["team", "ops"], namespaces={"team": "team-a", "ops": None})

    scan = scan_kube(KubeOptions(kube_config=str(config), context_namespace_only=True))

    assert seen(scan) == {("team", "team-a", "web", f"{REPO}:ours")}
    assert scan.scope == "context-namespace"
    assert scan.namespaces == {"team": ["team-a"], "ops": ["default"]}  # a context naming none: default
    for context, namespace in (("team", "team-a"), ("ops", "default")):
        assert all(kube_server.list_count(context, k, namespace) == 1 for k in ALL_KINDS)
        assert all(kube_server.list_count(context, k) == 0 for k in ALL_KINDS)  # never at cluster scope
    assert scan.empty == (("ops", "default"),)


def test_kube_scan_namespace_lists_only_the_named_namespaces_in_every_context(kube_server, kubeconfig_factory) -> None:
    for context in ("dev", "prod"):
        kube_server.add(context, "Pod", "a", namespace="shop", containers={"app": f"{REPO}:{context}-shop"})
        kube_server.add(context, "Pod", "b", namespace="blog", containers={"app": f"{REPO}:{context}-blog"})
        kube_server.add(context, "Pod", "c", namespace="batch", containers={"app": f"{REPO}:{context}-batch"})
    config = kubeconfig_factory(["dev", "prod"])

    scan = scan_kube(KubeOptions(kube_config=str(config), namespaces=["shop", "blog", "shop"]))

    assert {(c, n) for c, n, _, _ in seen(scan)} == {("dev", "shop"), ("dev", "blog"), ("prod", "shop"), ("prod", "blog")}
    assert scan.scope == "namespaces"
    assert scan.namespaces == {"dev": ["shop", "blog"], "prod": ["shop", "blog"]}
    assert kube_server.list_count("prod", "Pod", "shop") == 1 and kube_server.list_count("prod", "Pod", "batch") == 0


def test_default_scope_lists_every_namespace_at_cluster_scope(kube_server, kubeconfig_factory) -> None:
    kube_server.add("prod", "Pod", "a", namespace="shop", containers={"app": f"{REPO}:shop"})
    config = kubeconfig_factory(["prod"])

    scan = scan_kube(KubeOptions(kube_config=str(config)))

    assert scan.scope == "all-namespaces" and scan.namespaces == {"prod": None}
    assert scan.scanned()["contexts"] == [{"context": "prod", "all_namespaces": True, "namespaces": []}]
    assert kube_server.list_count("prod", "Pod") == 1


def test_namespace_restricted_user_at_cluster_scope_is_told_the_options_that_work(kube_server, kubeconfig_factory) -> None:
    team_cluster(kube_server, "team", "team-a")
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})

    with pytest.raises(KubeError) as caught:
        scan_kube(KubeOptions(kube_config=str(config)))

    error = caught.value
    assert error.status == 403 and error.context == "team"
    text = str(error)
    assert "at the cluster scope" in text  # the server's own words
    assert "may list it in its namespace 'team-a'" in text
    assert "--scan-context-namespace-only" in text and "--kube-scan-namespace team-a" in text


def test_user_who_may_list_nothing_is_not_told_its_namespace_would_do(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"], namespaces={"prod": "shop"})
    kube_server.fail("prod", "Deployment", 403)  # at every scope

    with pytest.raises(KubeError) as caught:
        scan_kube(KubeOptions(kube_config=str(config)))

    text = str(caught.value)
    assert "needs permission to list Deployment in all namespaces" in text
    assert "may list it in its namespace" not in text
    assert "--scan-context-namespace-only" in text  # still named: other namespaces may be allowed


def test_namespace_outside_the_users_role_stops_the_scan(kube_server, kubeconfig_factory) -> None:
    team_cluster(kube_server, "team", "team-a")
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})

    with pytest.raises(KubeError) as caught:
        scan_kube(KubeOptions(kube_config=str(config), namespaces=["team-a", "payments"]))

    error = caught.value
    assert error.status == 403
    assert "in namespace 'payments'" in str(error) and 'in the namespace "payments"' in str(error)
    assert "a Role and RoleBinding there" in str(error)


@pytest.mark.parametrize("status", [401, 500])
def test_one_kind_failing_in_a_namespace_stops_the_scan(kube_server, kubeconfig_factory, status: int) -> None:
    team_cluster(kube_server, "team", "team-a")
    kube_server.fail("team", "CronJob", status)
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})

    with pytest.raises(KubeError, match=f"'team'.*CronJob in namespace 'team-a'.*HTTP {status}"):
        scan_kube(KubeOptions(kube_config=str(config), context_namespace_only=True))


def test_a_failing_continue_page_in_a_namespace_stops_the_scan(kube_server, kubeconfig_factory) -> None:
    for i in range(3):
        kube_server.add("prod", "Deployment", f"d{i}", namespace="shop", containers={"app": f"{REPO}:{i}"})
    kube_server.fail_continue_page("prod", "Deployment", nth=1, status=500)
    config = kubeconfig_factory(["prod"])

    with pytest.raises(KubeError, match="Deployment in namespace 'shop' failed with HTTP 500"):
        scan_kube(KubeOptions(kube_config=str(config), namespaces=["shop"]))


def test_both_namespace_options_together_are_refused_before_any_request(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])

    with pytest.raises(KubeError, match="--scan-context-namespace-only and --kube-scan-namespace"):
        scan_kube(KubeOptions(kube_config=str(config), context_namespace_only=True, namespaces=["shop"]))

    assert sum(kube_server.requests.values()) == 0


@pytest.mark.parametrize("name", ["Shop", "shop_1", "", "-shop", "a" * 64])
def test_a_namespace_that_cannot_exist_is_refused_before_any_request(kube_server, kubeconfig_factory, name: str) -> None:
    config = kubeconfig_factory(["prod"])

    with pytest.raises(KubeError, match="not a namespace name"):
        scan_kube(KubeOptions(kube_config=str(config), namespaces=[name]))

    assert sum(kube_server.requests.values()) == 0


# --------------------------------------------------------------------------- base64 kubeconfig


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_base64_kubeconfig_is_scanned_like_the_file(kube_server, kubeconfig_factory, no_ambient_kubeconfig) -> None:
    team_cluster(kube_server, "team", "team-a")
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})
    value = encoded(config)
    config.unlink()  # nothing on disk

    scan = scan_kube(KubeOptions(kube_config_base64=value, context_namespace_only=True))

    assert seen(scan) == {("team", "team-a", "web", f"{REPO}:ours")}
    assert scan.source == "kubeconfig-base64" and scan.kubeconfig is None
    assert value not in repr(KubeOptions(kube_config_base64=value))


def test_base64_kubeconfig_wrapped_over_lines_is_accepted(kube_server, kubeconfig_factory, no_ambient_kubeconfig) -> None:
    kube_server.add("prod", "Pod", "web", containers={"app": f"{REPO}:v1"})
    value = encoded(kubeconfig_factory(["prod"]))
    wrapped = "\n".join(value[i : i + 76] for i in range(0, len(value), 76)) + "\n"  # `base64` without -w0

    assert seen(scan_kube(KubeOptions(kube_config_base64=wrapped))) == {("prod", "default", "web", f"{REPO}:v1")}


def test_base64_kubeconfig_from_the_environment_wins_over_kubeconfig_env(
    kube_server, kubeconfig_factory, no_ambient_kubeconfig, monkeypatch
) -> None:
    kube_server.add("ci", "Pod", "web", containers={"app": f"{REPO}:ci"})
    kube_server.add("laptop", "Pod", "web", containers={"app": f"{REPO}:laptop"})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_factory(["laptop"], name="laptop.yaml")))
    monkeypatch.setenv(kube.KUBE_CONFIG_BASE64_ENV, encoded(kubeconfig_factory(["ci"], name="ci.yaml")))

    scan = scan_kube(KubeOptions())

    assert {c for c, _, _, _ in seen(scan)} == {"ci"} and scan.source == "kubeconfig-base64"


def test_base64_kubeconfig_with_kube_config_is_refused(kube_server, kubeconfig_factory, no_ambient_kubeconfig) -> None:
    config = kubeconfig_factory(["prod"])

    with pytest.raises(KubeError, match="--kube-config and --kube-config-base64 both"):
        scan_kube(KubeOptions(kube_config=str(config), kube_config_base64=encoded(config)))


@pytest.mark.parametrize(
    "content",
    [
        "not base64 at all: token-sekret-1234",
        base64.b64encode(b"users:\n- name: u\n  user: {token: token-sekret-1234\ncontexts: [").decode(),
        base64.b64encode(b"- token-sekret-1234\n").decode(),
        base64.b64encode(b"\xff\xfe token-sekret-1234").decode(),
    ],
    ids=["not-base64", "not-yaml", "not-a-mapping", "not-utf8"],
)
def test_a_broken_base64_kubeconfig_is_an_error_that_never_shows_its_content(content: str, no_ambient_kubeconfig) -> None:
    with pytest.raises(KubeError, match="--kube-config-base64") as caught:
        scan_kube(KubeOptions(kube_config_base64=content))

    shown = "".join(traceback.format_exception(caught.value))  # what --debug prints
    assert "sekret" not in shown


# --------------------------------------------------------------------------- in-cluster


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def pod_api(ca: CertificateAuthority, tmp_path: Path) -> Iterator[FakeKubeServer]:
    """The cluster's API server over TLS (a certificate for 127.0.0.1 signed by `ca`)."""
    leaf = ca.issue("127.0.0.1", server=True)
    (tmp_path / "api.crt").write_bytes(leaf.cert)
    (tmp_path / "api.key").write_bytes(leaf.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "api.crt", tmp_path / "api.key")
    server = FakeKubeServer(ssl_context=context)
    try:
        yield server
    finally:
        server.close()


def in_a_pod(monkeypatch, server: FakeKubeServer, directory: Path, ca_pem: bytes, account: str, namespace: str) -> Path:
    """The environment of a pod running as `account`: the service-account files under `directory`
    and the API server in KUBERNETES_SERVICE_HOST/PORT."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(server.add_cluster(account))
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "namespace").write_text(namespace)
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv(kube.SERVICE_ACCOUNT_DIR_ENV, str(directory))
    return directory


def test_in_a_pod_without_kubeconfig_the_service_account_is_used(
    pod_api, ca, tmp_path, monkeypatch, no_ambient_kubeconfig
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "sweeper", "tools")
    pod_api.add("sweeper", "StatefulSet", "db", namespace="shop", containers={"db": f"{REPO}:db"})

    scan = scan_kube(KubeOptions())

    assert seen(scan) == {("in-cluster", "shop", "db", f"{REPO}:db")}
    assert scan.source == "in-cluster" and scan.namespaces == {"in-cluster": None}


def test_in_a_pod_namespace_only_lists_the_service_accounts_namespace(
    pod_api, ca, tmp_path, monkeypatch, no_ambient_kubeconfig
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "team", "team-a")
    team_cluster(pod_api, "team", "team-a")

    with pytest.raises(KubeError, match="--scan-context-namespace-only"):
        scan_kube(KubeOptions())
    scan = scan_kube(KubeOptions(context_namespace_only=True))

    assert seen(scan) == {("in-cluster", "team-a", "web", f"{REPO}:ours")}
    assert scan.namespaces == {"in-cluster": ["team-a"]}


def test_in_a_pod_the_api_server_is_verified_with_the_service_account_ca(
    pod_api, tmp_path, monkeypatch, no_ambient_kubeconfig
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", CertificateAuthority("other-ca").cert_pem, "sweeper", "tools")

    with pytest.raises(KubeError, match="cannot reach the API server https://127.0.0.1"):
        scan_kube(KubeOptions())


def test_a_home_kubeconfig_wins_over_the_service_account(
    pod_api, ca, kube_server, kubeconfig_factory, tmp_path, monkeypatch, no_ambient_kubeconfig
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "sweeper", "tools")
    (no_ambient_kubeconfig / ".kube").mkdir()
    kubeconfig_factory(["prod"]).rename(no_ambient_kubeconfig / ".kube" / "config")

    assert scan_kube(KubeOptions()).source == "kubeconfig"
    assert sum(pod_api.requests.values()) == 0


@pytest.mark.parametrize("named", ["--kube-config", "KUBECONFIG"])
def test_a_named_kubeconfig_that_is_missing_never_falls_back_to_the_pods_cluster(
    pod_api, ca, tmp_path, monkeypatch, no_ambient_kubeconfig, named: str
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "sweeper", "tools")
    missing = str(tmp_path / "prod-clusters.yaml")
    if named == "KUBECONFIG":
        monkeypatch.setenv("KUBECONFIG", missing)

    with pytest.raises(KubeError, match=f"no kubeconfig found at {missing}"):
        scan_kube(KubeOptions(kube_config=missing if named == "--kube-config" else None))

    assert sum(pod_api.requests.values()) == 0


def test_a_pod_without_a_mounted_token_says_what_is_missing(pod_api, ca, tmp_path, monkeypatch, no_ambient_kubeconfig) -> None:
    directory = in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "sweeper", "tools")
    (directory / "token").unlink()

    with pytest.raises(KubeError, match=r"running in a pod .* service account's .*/sa/token is missing") as caught:
        scan_kube(KubeOptions())

    assert "automountServiceAccountToken" in str(caught.value) and kube.SERVICE_ACCOUNT_DIR_ENV in str(caught.value)


def test_an_unknown_context_in_a_pod_names_the_in_cluster_context(
    pod_api, ca, tmp_path, monkeypatch, no_ambient_kubeconfig
) -> None:
    in_a_pod(monkeypatch, pod_api, tmp_path / "sa", ca.cert_pem, "sweeper", "tools")

    with pytest.raises(KubeError, match="unknown Kubernetes context 'prod'.*known contexts: in-cluster"):
        scan_kube(KubeOptions(contexts=["prod"]))


def test_a_rotated_service_account_token_is_read_again_and_a_vanished_one_is_kept(tmp_path, monkeypatch) -> None:
    from kubernetes import client

    monkeypatch.setattr(kube, "TOKEN_REREAD_SECONDS", 0.0)
    path = tmp_path / "token"
    path.write_text("first\n")
    token, configuration = kube._ServiceAccountToken(path), client.Configuration()

    token.refresh(configuration)
    first = configuration.api_key["BearerToken"]
    path.write_text("second")
    token.refresh(configuration)
    second = configuration.api_key["BearerToken"]
    path.unlink()
    token.refresh(configuration)

    assert (first, second, configuration.api_key["BearerToken"]) == ("first", "second", "second")
