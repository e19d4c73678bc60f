"""A werf v1.1 run pointed at a repository werf 1.2 / 2.x builds into is refused before it deletes
anything (SPEC §13.4): through the CLI, against the real registry and an OCI layout."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from adapters.audit import read_run_metadata
from adapters.registry import RegistryClient
from adapters.storage import open_stages_storage
from tests.e2e.werf2_repo import write_werf2_repo
from tests.e2e.world import ago, basic_world, registry_world

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    return registry_world(git_project, registry, unique_repo, tmp_path)


@pytest.fixture
def werf2(world, registry, unique_repo):
    """A werf 2.x repository at `<unique>/werf2/app`: what a team on werf 2.x builds into."""
    commit = world.git.commit("main", ago(days=3))
    world.git.push()
    repository = f"{registry.host}/{unique_repo}/werf2/app"
    storage = open_stages_storage(repository, world.project, registry.options())
    try:
        return write_werf2_repo(storage.backend, repository, world.project, commit, ago(days=3))
    finally:
        storage.close()


def run_v11(world, *words: str, stages: str, images: str | None = None, flags: tuple[str, ...] = ()):
    """`stagesweep WORDS` on v1.1's options: `--stages-storage STAGES [--images-repo IMAGES]`."""
    return world.cli(
        *words,
        "--stages-storage",
        stages,
        *(["--images-repo", images] if images else []),
        "--dir",
        str(world.git.work),
        "--audit-dir",
        str(world.audit_dir),
        "--insecure-registry",
        *flags,
    )


def raw_tags(registry, repository: str) -> set[str]:
    return set(RegistryClient(registry.options()).list_tags(repository))


def refused(result, audit_dir) -> dict:
    """The refusal as the user and the audit see it; returns the audit's run metadata."""
    assert result.exit_code == 1, result.output
    assert "werf 1.2 / 2.x content" in result.output and "--repo" in result.output, result.output
    assert "Nothing was deleted" in result.output
    audits = sorted(audit_dir.rglob("*.parquet"))
    assert len(audits) == 1 and pq.read_table(audits[0]).num_rows == 0
    return read_run_metadata(audits[0])


@pytest.mark.registry
@pytest.mark.parametrize(
    "command",
    ["cleanup", "cleanup --dry-run", "stages cleanup", "purge", "stages purge"],
)
def test_a_v11_run_over_a_werf2_repository_stops_and_deletes_nothing(world, werf2, registry, command):
    before = raw_tags(registry, werf2.repository)
    words = command.split()
    flags = [w for w in words if w.startswith("-")] + (["--without-kube"] if words[0] == "cleanup" else [])
    images = None if words[:2] == ["stages", "purge"] else werf2.repository.rsplit("/", 1)[0] + "/images"
    result = run_v11(
        world, *[w for w in words if not w.startswith("-")], stages=werf2.repository, images=images, flags=tuple(flags)
    )
    metadata = refused(result, world.audit_dir)
    assert raw_tags(registry, werf2.repository) == before == werf2.tags
    refusal = metadata["refused"]
    assert refusal["reason"] == "wrong-storage-format"
    assert {sign["tag"] for sign in refusal["signs"]} >= {werf2.stage_ids[0], werf2.records[0]}


@pytest.mark.registry
def test_a_werf2_repository_given_as_the_images_repo_stops_images_cleanup(world, werf2, registry):
    basic_world(world)
    stages_before = world.stage_tags()
    result = run_v11(
        world,
        "images",
        "cleanup",
        stages=world.stages_address,
        images=werf2.repository.rsplit("/", 1)[0],  # multirepo: image `app` lives in <images repo>/app
        flags=("--without-kube",),
    )
    refused(result, world.audit_dir)
    assert raw_tags(registry, werf2.repository) == werf2.tags
    assert world.stage_tags() == stages_before


@pytest.mark.registry
def test_managed_images_rm_on_a_werf2_repository_is_refused(world, werf2, registry):
    storage = open_stages_storage(werf2.repository, world.project, registry.options())
    try:
        storage.add_managed_image("app")
    finally:
        storage.close()
    before = raw_tags(registry, werf2.repository)
    result = run_v11(world, "managed-images", "rm", "app", stages=werf2.repository)
    refused(result, world.audit_dir)
    assert raw_tags(registry, werf2.repository) == before


@pytest.mark.registry
def test_apply_of_a_plan_made_before_the_repository_changed_hands_deletes_nothing(world, registry):
    basic_world(world)
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    reviewed = world.audits()[-1]
    assert "would-delete" in set(world.last_audit().outcome)
    # the stages storage is now where a werf 2.x project builds
    storage = open_stages_storage(world.stages_address, world.project, registry.options())
    try:
        write_werf2_repo(storage.backend, world.stages_address, world.project, "c" * 40, ago(days=3))
    finally:
        storage.close()
    before = (raw_tags(registry, world.stages_address), world.image_tags())
    result = world.cli("apply", str(reviewed), "--audit-dir", str(world.audit_dir), "--insecure-registry", "--without-kube")
    assert result.exit_code == 1, result.output
    assert "--repo" in result.output and "Nothing was deleted" in result.output
    assert (raw_tags(registry, world.stages_address), world.image_tags()) == before


@pytest.mark.registry
def test_a_stage_labelled_for_another_project_is_kept_by_cleanup_and_purge(world):
    state = basic_world(world)
    built = int(ago(days=5).timestamp() * 1000)
    foreign = f"{'f' * 56}-{built}"
    storage = world.stages()
    try:
        storage.write_stage("f" * 56, built, None, {"werf": "beta"})
    finally:
        storage.close()
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    kept = audit[audit.item_type == "stage"].set_index("tag")
    assert (kept.loc[foreign].action, kept.loc[foreign].reason) == ("keep", "other-project")
    assert "beta" in kept.loc[foreign].detail
    assert (audit.reason == "unused-stage").any()  # the project's own unused stages did go
    assert foreign in world.stage_tags()
    result = world.cleanup("purge")
    assert result.exit_code == 0, result.output
    assert world.stage_tags() == {foreign}
    assert state["A"].stage_tags[0] not in world.stage_tags()


def test_a_werf2_repository_in_an_oci_layout_is_refused(world, tmp_path):
    address = f"oci:{tmp_path / 'werf2-layout'}"
    commit = world.git.commit("main", ago(days=3))
    world.git.push()
    storage = open_stages_storage(address, world.project)
    try:
        repo = write_werf2_repo(storage.backend, address, world.project, commit, ago(days=3))
    finally:
        storage.close()
    result = world.cli(
        "cleanup",
        "--stages-storage",
        address,
        "--images-repo",
        f"oci:{tmp_path / 'images-layout'}",
        "--dir",
        str(world.git.work),
        "--audit-dir",
        str(world.audit_dir),
        "--without-kube",
    )
    refused(result, world.audit_dir)
    storage = open_stages_storage(address, world.project)
    try:
        assert set(storage.backend.list_tags(address)) == repo.tags
    finally:
        storage.close()


@pytest.mark.registry
def test_a_fleet_project_pointed_at_a_werf2_repository_fails_alone_and_keeps_it(registry, unique_repo, tmp_path):
    import yaml

    from tests.e2e.test_fleet import fleet_world

    worlds, fleet = fleet_world(registry, unique_repo, tmp_path, ["alpha", "omega"])
    omega, _ = worlds["omega"]
    repository = f"{registry.host}/{unique_repo}/omega-werf2"
    storage = open_stages_storage(repository, "omega", registry.options())
    try:
        werf2 = write_werf2_repo(storage.backend, repository, "omega", "c" * 40, ago(days=3))
    finally:
        storage.close()
    fleet["projects"][1]["stages_storage"] = repository
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    result = omega.cli("fleet", "cleanup", str(path), "--audit-dir", str(tmp_path / "fleet-audit"), env={"HOME": str(tmp_path)})
    assert result.exit_code == 3, result.output
    assert "1 of 2 projects failed: omega" in result.output
    assert raw_tags(registry, repository) == werf2.tags
    alpha, facts = worlds["alpha"]
    assert facts["f1"] not in alpha.image_tags() and facts["c2"] in alpha.image_tags()
