"""Listing workload images through the official client against the fake API server."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from adapters.kube import WORKLOAD_KINDS, KubeOptions, list_kube_images
from core.allow_list import match_used_tags
from schemas.errors import KubeError
from schemas.tables import IMAGE_TAGS_SCHEMA, KUBE_IMAGES_SCHEMA
from tests.fixtures.kube_server import ENDPOINTS, HANG

REPO = "127.0.0.1:5000/acme/app"
DIGEST = "sha256:" + "ab" * 32
ALL_KINDS = [k.kind for k in WORKLOAD_KINDS]


def scan(config: Path | str, **options) -> pa.Table:
    return list_kube_images(KubeOptions(kube_config=str(config), **options))


def images(table: pa.Table) -> set[tuple[str, str, str, str]]:
    """(context, kind, name, image) of every row."""
    return set(zip(*(table[c].to_pylist() for c in ("context", "kind", "name", "image"))))


def tags(*rows: tuple[str, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"image_name": "app", "repository": REPO, "tag": t, "digest": d} for t, d in rows], schema=IMAGE_TAGS_SCHEMA
    )


def test_deployment_image_used_only_in_second_context_is_matched(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod"])
    kube_server.add("dev", "Deployment", "web", containers={"app": f"{REPO}:v1"})
    kube_server.add("prod", "Deployment", "web", namespace="shop", containers={"app": f"{REPO}:v2"})

    table = scan(config)

    assert table.schema == KUBE_IMAGES_SCHEMA
    used = match_used_tags(tags(("v1", "sha256:" + "1" * 64), ("v2", "sha256:" + "2" * 64), ("v3", DIGEST)), table)
    assert used.to_pylist() == [
        {"repository": REPO, "tag": "v1", "detail": "dev/default/Deployment/web container=app"},
        {"repository": REPO, "tag": "v2", "detail": "prod/shop/Deployment/web container=app"},
    ]


def test_image_of_a_cronjob_init_container_is_seen(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    kube_server.add(
        "prod",
        "CronJob",
        "nightly",
        namespace="batch",
        containers={"report": "busybox:1.36"},
        init_containers={"migrate": f"{REPO}:migrations"},
    )

    table = scan(config)

    assert ("prod", "batch", "CronJob", "nightly", "migrate", f"{REPO}:migrations") in [
        tuple(r.values()) for r in table.to_pylist()
    ]
    assert match_used_tags(tags(("migrations", DIGEST)), table)["tag"].to_pylist() == ["migrations"]


def test_pod_pinned_by_digest_keeps_the_tag_with_that_digest(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Pod", "web-7d9f", containers={"app": f"{REPO}@{DIGEST}"})

    used = match_used_tags(tags(("main-42", DIGEST), ("main-41", "sha256:" + "0" * 64)), scan(config))

    assert used.to_pylist() == [{"repository": REPO, "tag": "main-42", "detail": "prod/default/Pod/web-7d9f container=app"}]


def test_only_jobs_still_running_count(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Job", "done", containers={"c": f"{REPO}:done"}, conditions=[("Complete", "True")])
    kube_server.add("prod", "Job", "broken", containers={"c": f"{REPO}:broken"}, conditions=[("Failed", "True")])
    kube_server.add("prod", "Job", "running", containers={"c": f"{REPO}:running"})
    kube_server.add("prod", "Job", "suspended", containers={"c": f"{REPO}:suspended"}, conditions=[("Suspended", "True")])
    kube_server.add("prod", "Job", "retrying", containers={"c": f"{REPO}:retrying"}, conditions=[("Failed", "False")])

    seen = {name for _, kind, name, _ in images(scan(config)) if kind == "Job"}

    assert seen == {"running", "suspended", "retrying"}


def test_every_kind_contributes_its_containers_and_init_containers(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    for kind in ALL_KINDS:
        kube_server.add(
            "prod", kind, kind.lower(), containers={"main": f"{REPO}:{kind}"}, init_containers={"init": f"{REPO}:init-{kind}"}
        )

    seen = images(scan(config))

    assert seen == {("prod", k, k.lower(), f"{REPO}:{k}") for k in ALL_KINDS} | {
        ("prod", k, k.lower(), f"{REPO}:init-{k}") for k in ALL_KINDS
    }


def test_follows_continue_pages_until_all_1000_pods_are_seen(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    for i in range(1000):
        kube_server.add("prod", "Pod", f"pod-{i:04d}", namespace=f"ns-{i % 7}", containers={"app": f"{REPO}:t{i}"})

    table = scan(config, page_size=400)

    assert table.num_rows == 1000
    assert set(table["name"].to_pylist()) == {f"pod-{i:04d}" for i in range(1000)}
    assert kube_server.list_count("prod", "Pod") == 3


def test_forbidden_replicasets_in_one_context_stop_the_scan(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod", "stage"])
    kube_server.add("dev", "Deployment", "web", containers={"app": f"{REPO}:v1"})
    kube_server.fail("prod", "ReplicaSet", 403)

    with pytest.raises(KubeError) as caught:
        scan(config)

    error = caught.value
    assert (error.context, error.kind, error.status) == ("prod", "ReplicaSet", 403)
    assert "'prod'" in str(error) and "ReplicaSet" in str(error) and "403" in str(error)
    assert 'cannot list resource "replicasets" in API group "apps"' in str(error)  # the server's own words
    assert "permission to list ReplicaSet" in str(error)


@pytest.mark.parametrize("status", [401, 404, 500])
def test_refused_listing_stops_the_scan_with_its_status(kube_server, kubeconfig_factory, status: int) -> None:
    config = kubeconfig_factory(["dev", "prod"])
    kube_server.fail("dev", "CronJob", status)

    with pytest.raises(KubeError, match=f"'dev'.*CronJob.*HTTP {status}") as caught:
        scan(config)

    assert (caught.value.context, caught.value.kind, caught.value.status) == ("dev", "CronJob", status)


def test_unknown_token_is_refused_as_401(kube_server, kubeconfig_factory, tmp_path) -> None:
    config = kubeconfig_factory(["prod"])
    config.write_text(config.read_text().replace("token-prod", "expired"))

    with pytest.raises(KubeError, match="HTTP 401") as caught:
        scan(config)

    assert "credentials of context 'prod' were refused" in str(caught.value)


def test_closed_port_stops_the_scan_quickly(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    kube_server.close()

    started = time.monotonic()
    with pytest.raises(KubeError, match="cannot reach the API server http://127.0.0.1") as caught:
        scan(config)

    assert time.monotonic() - started < 5
    assert caught.value.context == "prod" and caught.value.status is None
    assert "--without-kube" in str(caught.value)


def test_api_server_that_never_answers_stops_the_scan_after_the_read_timeout(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["prod"])
    kube_server.hang_seconds = 3
    kube_server.fail("prod", "DaemonSet", HANG)

    started = time.monotonic()
    with pytest.raises(KubeError, match="cannot reach") as caught:
        scan(config, read_timeout=0.5)

    assert time.monotonic() - started < 2.5
    assert caught.value.kind == "DaemonSet"


def test_contexts_option_narrows_the_scan(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod", "stage"])
    kube_server.add("dev", "Pod", "a", containers={"app": f"{REPO}:dev"})
    kube_server.add("stage", "Pod", "b", containers={"app": f"{REPO}:stage"})
    kube_server.fail("prod", "Pod", 500)  # never asked

    table = scan(config, contexts=["stage", "dev"])

    assert set(table["context"].to_pylist()) == {"dev", "stage"}
    assert all(kube_server.list_count("prod", kind) == 0 for kind in ALL_KINDS)


def test_kubeconfig_list_in_env_merges_contexts_of_both_files(kube_server, split_kubeconfig, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", split_kubeconfig(["dev"], ["prod", "stage"]))
    for context in ("dev", "prod", "stage"):
        kube_server.add(context, "StatefulSet", "db", containers={"db": f"{REPO}:{context}"})

    table = list_kube_images(KubeOptions())

    assert set(table["context"].to_pylist()) == {"dev", "prod", "stage"}


def test_explicit_kube_config_wins_over_env(kube_server, kubeconfig_factory, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_factory(["other"], name="env.yaml")))
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Pod", "web", containers={"app": f"{REPO}:v1"})

    assert set(scan(config)["context"].to_pylist()) == {"prod"}


def test_home_kubeconfig_is_the_fallback(kube_server, kubeconfig_factory, monkeypatch, tmp_path) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    kubeconfig_factory(["prod"]).rename(home / ".kube" / "config")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(home))
    kube_server.add("prod", "DaemonSet", "agent", containers={"agent": f"{REPO}:agent"})

    assert images(list_kube_images(KubeOptions())) == {("prod", "DaemonSet", "agent", f"{REPO}:agent")}


def test_kubeconfig_without_current_context_is_scanned_whole(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod"])
    config.write_text("\n".join(line for line in config.read_text().splitlines() if "current-context" not in line))
    kube_server.add("prod", "ReplicationController", "legacy", containers={"app": f"{REPO}:old"})

    assert images(scan(config)) == {("prod", "ReplicationController", "legacy", f"{REPO}:old")}


def test_unreadable_kubeconfig_is_an_error_naming_the_file(tmp_path) -> None:
    config = tmp_path / "config"
    config.write_text("contexts: [unclosed\n")

    with pytest.raises(KubeError, match=f"cannot read kubeconfig {config}"):
        scan(config)


def test_unknown_context_is_an_error_listing_the_known_ones(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod"])

    with pytest.raises(KubeError, match="unknown Kubernetes context 'staging'.*known contexts: dev, prod"):
        scan(config, contexts=["prod", "staging"])

    assert sum(kube_server.requests.values()) == 0


def test_missing_kubeconfig_says_to_pass_without_kube(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    with pytest.raises(KubeError, match="no kubeconfig found at .*/.kube/config; pass --without-kube"):
        list_kube_images(KubeOptions())
    with pytest.raises(KubeError, match=f"no kubeconfig found at {tmp_path}/nope"):
        list_kube_images(KubeOptions(kube_config=str(tmp_path / "nope")))


def test_exec_credential_plugin_supplies_the_token(kube_server, kubeconfig_factory, tmp_path) -> None:
    plugin = tmp_path / "get-token"
    plugin.write_text(
        "#!/bin/sh\n"
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
        ' "status": {"token": "token-prod"}}\'\n'
    )
    plugin.chmod(0o755)
    config = kubeconfig_factory(["prod"])
    text = config.read_text().replace(
        "token: token-prod",
        f"exec: {{apiVersion: client.authentication.k8s.io/v1, command: {plugin}, interactiveMode: Never}}",
    )
    config.write_text(text)
    kube_server.add("prod", "Pod", "web", containers={"app": f"{REPO}:v1"})

    assert images(scan(config)) == {("prod", "Pod", "web", f"{REPO}:v1")}


def test_lists_every_kind_of_every_context_once_and_concurrently(kube_server, kubeconfig_factory) -> None:
    config = kubeconfig_factory(["dev", "prod", "stage"])
    kube_server.delay = 0.1
    for context in ("dev", "prod", "stage"):
        for kind in ALL_KINDS:
            kube_server.add(context, kind, "w", containers={"app": f"{REPO}:{context}-{kind}"})

    started = time.monotonic()
    table = scan(config, parallel=8)
    elapsed = time.monotonic() - started

    assert table.num_rows == 24
    counts = {(c, k): kube_server.list_count(c, k) for c in ("dev", "prod", "stage") for k in ENDPOINTS}
    assert set(counts.values()) == {1}
    assert sum(kube_server.requests.values()) == 24
    assert kube_server.max_in_flight > 1
    assert elapsed < 24 * kube_server.delay * 0.75, f"24 listings took {elapsed:.2f}s"


def test_empty_clusters_give_an_empty_table(kube_server, kubeconfig_factory) -> None:
    table = scan(kubeconfig_factory(["dev", "prod"]))

    assert table.num_rows == 0 and table.schema == KUBE_IMAGES_SCHEMA
