"""Kubernetes access as teams are granted it, end to end through the CLI (real registry, git with
an origin, a Prefect API, the fake Kubernetes API server): a user whose Role covers one namespace
cleans with `--scan-context-namespace-only` and keeps what that namespace runs; without the option
the same user gets one message naming it; a cleanup inside a pod needs no kubeconfig; a base64
kubeconfig reaches no output, audit or Prefect record."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.audit import read_run_metadata
from tests.e2e.test_secrets import assert_nowhere, info_logs_to_api, prefect_records, stored_results
from tests.e2e.world import basic_world, registry_world
from tests.fixtures.kube_server import FakeKubeServer
from tests.kube.tls import CertificateAuthority

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

__all__ = ["info_logs_to_api"]  # a fixture, used by name


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    world.state = basic_world(world)  # f1: the image of the branch deleted from origin
    return world


def run_team_a(world, server: FakeKubeServer) -> None:
    """The cluster of team A: its user may list namespace team-a only, where a Deployment runs the
    image of the deleted branch (f1)."""
    server.restrict("team", "team-a")
    image = f"{world.images_address}/app:{world.state['f1']}"
    server.add("team", "Deployment", "web", namespace="team-a", containers={"web": image})


def assert_kept_for_team_a(world, detail: str) -> None:
    w = world.state
    tags = world.image_tags()
    assert w["f1"] in tags, "the image team-a runs stays"
    assert "feature" not in tags, "the rest of the deleted branch is cleaned"
    assert set(w["F"].stage_tags) <= world.stage_tags()  # the kept image's stages stay with it
    audit = world.last_audit()
    kept = audit[(audit.tag == w["f1"]) & (audit.item_type == "image-tag")].iloc[0]
    assert (kept.reason, kept.outcome) == ("used-in-kubernetes", "kept") and kept.detail.startswith(detail)
    assert (audit[audit.tag == "feature"].outcome == "deleted").all()


def test_namespace_restricted_user_keeps_what_its_namespace_runs_and_cleans_the_rest(world, kube_server, kubeconfig_factory):
    run_team_a(world, kube_server)
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})

    result = world.cleanup("cleanup", "--kube-config", str(config), "--scan-context-namespace-only")

    assert result.exit_code == 0, result.output
    assert_kept_for_team_a(world, "team/team-a/Deployment/web")
    assert read_run_metadata(world.audits()[-1])["kubernetes"] == {
        "checked": True,
        "source": "kubeconfig",
        "kubeconfig": str(config),
        "scope": "context-namespace",
        "contexts": [{"context": "team", "all_namespaces": False, "namespaces": ["team-a"]}],
    }


def test_namespace_restricted_user_without_the_option_gets_one_message_naming_it(world, kube_server, kubeconfig_factory):
    run_team_a(world, kube_server)
    config = kubeconfig_factory(["team"], namespaces={"team": "team-a"})
    before = (world.image_tags(), world.stage_tags())

    result = world.cleanup("cleanup", "--kube-config", str(config))

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'team'" in errors[0] and "403" in errors[0], result.output
    assert "--scan-context-namespace-only" in result.output and "--kube-scan-namespace team-a" in result.output
    assert (world.image_tags(), world.stage_tags()) == before  # stopped before the first deletion
    assert "kubernetes" not in read_run_metadata(world.audits()[-1])  # nothing was scanned


@pytest.fixture
def pod(world, tmp_path) -> Iterator[tuple[FakeKubeServer, dict[str, str | None]]]:
    """(the pod's API server over TLS, the environment of a pod running as a service account
    whose token and CA are under a temp dir). No kubeconfig anywhere."""
    ca = CertificateAuthority()
    leaf = ca.issue("127.0.0.1", server=True)
    (tmp_path / "api.crt").write_bytes(leaf.cert)
    (tmp_path / "api.key").write_bytes(leaf.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "api.crt", tmp_path / "api.key")
    server = FakeKubeServer(ssl_context=context)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(server.add_cluster("sweeper"))
    (account / "ca.crt").write_bytes(ca.cert_pem)
    (account / "namespace").write_text("team-a")
    (tmp_path / "home").mkdir()
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    env = {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "STAGESWEEP_KUBE_SERVICE_ACCOUNT_DIR": str(account),
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": None,
        "STAGESWEEP_KUBE_CONFIG_BASE64": None,
    }
    try:
        yield server, env
    finally:
        server.close()


def test_cleanup_inside_a_pod_needs_no_kubeconfig(world, pod):
    server, env = pod
    image = f"{world.images_address}/app:{world.state['f1']}"
    server.add("sweeper", "Deployment", "web", namespace="shop", containers={"web": image})

    result = world.cleanup("cleanup", env=env)

    assert result.exit_code == 0, result.output
    assert_kept_for_team_a(world, "in-cluster/shop/Deployment/web")
    scanned = read_run_metadata(world.audits()[-1])["kubernetes"]
    assert (scanned["source"], scanned["scope"]) == ("in-cluster", "all-namespaces")


def test_base64_kubeconfig_reaches_no_output_audit_or_prefect_record(world, kube_server, kubeconfig_factory, info_logs_to_api):
    run_team_a(world, kube_server)
    config: Path = kubeconfig_factory(["team"], namespaces={"team": "team-a"})
    encoded = base64.b64encode(config.read_bytes()).decode()
    config.unlink()

    result = world.cleanup(
        "cleanup", "--scan-context-namespace-only", env={"STAGESWEEP_KUBE_CONFIG_BASE64": encoded, "KUBECONFIG": None}
    )

    assert result.exit_code == 0, result.output
    assert_kept_for_team_a(world, "team/team-a/Deployment/web")
    audit_file = world.audits()[-1]
    assert read_run_metadata(audit_file)["kubernetes"]["source"] == "kubeconfig-base64"
    secrets = {encoded, kube_server.token_for("team")}
    assert_nowhere(
        secrets,
        output=result.output,
        audit=audit_file.read_bytes().decode("latin-1"),
        prefect=prefect_records({audit_file.stem}),
        results=stored_results(),
    )
