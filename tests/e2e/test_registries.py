"""Cleanup through the CLI on every registry implementation (`--repo-implementation`), each
against a fake of the vendor's API in front of the real registry (tests/fixtures/vendor_*.py), so
the vendor's deletes and the Registry API's reads act on one store.

Per implementation: a cleanup deletes exactly the planned items; a tag sharing its digest with a
tag that stays leaves that tag in place (kept as `shared-digest` where the vendor deletes by
digest, deleted alone where it deletes tags); a 429 is retried; a delete the vendor keeps failing
ends the run with exit 3, audited, and a rerun finishes the plan; credentials without the delete
permission stop the run before the first delete with one message naming the implementation and
the permission."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from adapters.registry import RegistryClient
from tests.e2e.world import World, basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

#: test id → (fixture of the fake, whether one tag delete removes every tag on its digest there)
IMPLEMENTATIONS = {
    "default": ("distribution_fake", True),
    "default-tag-delete": ("tagdelete_fake", False),
    "gitlab": ("gitlab_fake", False),
    "harbor": ("harbor_fake", False),
    "dockerhub": ("dockerhub_fake", False),
    "quay": ("quay_fake", False),
    "github": ("github_fake", True),
    "ecr": ("ecr_fake", False),
    "gcr": ("gcr_fake", False),
    "acr": ("acr_fake", False),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def vendor(request):
    fixture, by_digest = IMPLEMENTATIONS[request.param]
    return request.getfixturevalue(fixture), by_digest


def vendor_world(git_project, registry, unique_repo, tmp_path, fake) -> tuple[World, World, dict]:
    """(what the CLI cleans: the storages addressed through the fake; the same storages on the
    real registry, where the test publishes and looks; the basic world's commits and images)."""
    direct = registry_world(git_project, registry, unique_repo, tmp_path)
    w = basic_world(direct)
    home = tmp_path / "home"
    through = World(
        git=git_project,
        stages_address=f"{fake.host}/{unique_repo}/stages",
        images_address=f"{fake.host}/{unique_repo}/images",
        options=registry.options(),
        audit_dir=direct.audit_dir,
        extra_args=fake.cli_args(),
    )
    through.env = fake.cli_env(home)  # type: ignore[attr-defined]
    return through, direct, w


def secrets_of(fake, env: dict[str, str]) -> set[str]:
    """Every credential the run could leak: the fake's passwords and tokens, the secret variables."""
    found = {user.secret for user in fake.users.values()} | set(fake.tokens)
    found |= {value for key, value in env.items() if any(w in key for w in ("TOKEN", "SECRET", "PASSWORD"))}
    return {secret for secret in found if len(secret) >= 8}


def run(world: World, *args: str):
    return world.cleanup("cleanup", *args, env=world.env)  # type: ignore[attr-defined]


def pin_f1(registry, direct: World, w: dict, kube_server, kubeconfig_factory, through: World) -> str:
    """Tag `pinned` onto F's image (the image of the deleted branch) and run it in Kubernetes:
    F's tags go, `pinned` must stay. A kubeconfig for the cleanup."""
    with RegistryClient(registry.options()) as client:
        repo = direct.images_address + "/app"
        manifest = client.get_manifest(repo, w["f1"])
        client.put_manifest(repo, "pinned", manifest.raw, manifest.media_type)
    kube_server.add_cluster("only")
    kube_server.add("only", "Pod", "pinned", containers={"app": f"{through.images_address}/app:pinned"})
    return str(kubeconfig_factory(["only"]))


def test_cleanup_on_each_registry_deletes_the_plan_through_a_429_and_leaves_a_tag_sharing_a_staying_digest(
    vendor, git_project, registry, unique_repo, tmp_path, kube_server, kubeconfig_factory
):
    fake, by_digest = vendor
    through, direct, w = vendor_world(git_project, registry, unique_repo, tmp_path, fake)
    kubeconfig = pin_f1(registry, direct, w, kube_server, kubeconfig_factory, through)
    stages_before = direct.stage_tags()
    fake.rate_limit_deletes(retry_after=1, times=1)

    first = run(through, "--kube-config", kubeconfig)

    assert f"{fake.implementation} implementation" in first.output
    # no credential in the output or the audit (run metadata included)
    audit = pq.read_table(direct.audits()[-1])
    audit_text = audit.to_pandas().to_csv() + str(audit.schema.metadata)
    for secret in secrets_of(fake, through.env):  # type: ignore[attr-defined]
        assert secret not in first.output and secret not in audit_text
    meta = __import__("json").loads(audit.schema.metadata[b"stagesweep.run"])
    assert meta["repo_implementations"]["images-repo"]["implementation"] == fake.implementation
    rows = audit.to_pandas()
    assert any(status == 429 for _, _, status, _ in fake.log), "the rate limit was never hit"
    assert {"pinned", w["c1"], w["c2"], "main"} <= direct.image_tags()
    f1_row = rows[(rows.tag == w["f1"]) & (rows.item_type == "image-tag")].iloc[0]
    assert first.exit_code == 0, first.output
    assert set(rows[rows.outcome == "failed"].tag) == set()
    if by_digest:
        # one delete would take `pinned` with it: the tag stays and so do F's stages
        assert (f1_row.action, f1_row.reason, f1_row.outcome) == ("keep", "shared-digest", "kept")
        assert w["f1"] in direct.image_tags()
        assert direct.stage_tags() == stages_before
        return
    # the vendor removes the tag alone: f1 goes, `pinned` (same digest) stays, so do F's stages
    assert (f1_row.action, f1_row.outcome) == ("delete", "deleted")
    assert w["f1"] not in direct.image_tags() and "feature" not in direct.image_tags()
    assert set(w["F"].stage_tags) <= direct.stage_tags()
    # exactly the plan: the other deletes of the run are the deleted branch's metadata record
    deleted = rows[rows.outcome == "deleted"]
    assert set(deleted.tag) == set(rows[rows.action == "delete"].tag)
    assert not set(deleted.tag) & {"pinned", w["c1"], w["c2"], "main"}


def test_a_failed_vendor_delete_exits_3_is_audited_and_a_rerun_finishes_it(vendor, git_project, registry, unique_repo, tmp_path):
    fake, _ = vendor
    through, direct, w = vendor_world(git_project, registry, unique_repo, tmp_path, fake)
    failing = w["F"].stage_tags[0]
    failing_digest = {s["tag"]: s["digest"] for s in direct.stages().list_stages().to_pylist()}[failing]
    fake.fail_deletes_of(failing, failing_digest)

    first = run(through, "--without-kube")

    assert first.exit_code == 3, first.output
    rows = pq.read_table(direct.audits()[-1]).to_pandas()
    failed = rows[rows.outcome == "failed"]
    assert failing in set(failed.tag)
    assert failing in direct.stage_tags()
    assert w["f1"] not in direct.image_tags()  # the image tags went in the same run
    fake.heal()
    again = run(through, "--without-kube")
    assert again.exit_code == 0, again.output
    assert not set(w["F"].stage_tags) & direct.stage_tags()
    assert direct.image_tags() == {w["c1"], w["c2"], "main"}


def test_credentials_without_delete_permission_stop_before_any_delete_naming_implementation_and_permission(
    vendor, git_project, registry, unique_repo, tmp_path
):
    fake, _ = vendor
    through, direct, w = vendor_world(git_project, registry, unique_repo, tmp_path, fake)
    tags_before, stages_before = direct.image_tags(), direct.stage_tags()
    fake.deny_deletes()

    result = run(through, "--without-kube")

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    from schemas.registry_implementations import IMPLEMENTATIONS

    permission = IMPLEMENTATIONS[fake.implementation].permission
    assert f"{fake.implementation} implementation" in result.output and permission in result.output
    assert direct.image_tags() == tags_before and direct.stage_tags() == stages_before
