"""A werf build that publishes while a cleanup deletes: nothing it wrote is deleted. The plan is
fixed before the first delete (the build's tags are not in it) and the grace window keeps young
stages in any later run."""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.world import basic_world, registry_world, utcnow

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
PROBE = "sha256:" + "0" * 64  # the delete pre-flight's digest, which never exists


def test_stages_and_images_published_during_a_cleanup_are_not_deleted(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = basic_world(world)
    build: dict = {}
    done = threading.Event()

    def werf_build() -> None:
        """What `werf build-and-publish` of a new commit on main writes."""
        try:
            c3 = world.git.commit("main", utcnow())
            world.git.push("main")
            with world.publisher() as pub:
                fresh = pub.build("app", built_at=utcnow(), n_stages=3)
                cached = pub.build("app", built_at=utcnow(), base=w["B"], reuse=2, n_stages=3)
                pub.publish(fresh, c3, c3)
                pub.publish(fresh, "main", c3)
                pub.publish(cached, "release")
            build.update(c3=c3, fresh=fresh, cached=cached, finished=time.monotonic())
        except BaseException as exc:
            build["error"] = exc
        finally:
            done.set()

    started = threading.Event()

    def rule(method: str, count: int, path: str) -> None:
        if method == "DELETE" and PROBE not in path:
            if not started.is_set():
                started.set()
                threading.Thread(target=werf_build, daemon=True).start()
            time.sleep(0.5)  # the cleanup is still deleting while the build publishes
        return None

    fault_proxy.rule = rule
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert done.wait(120) and "error" not in build, build.get("error")
    assert started.is_set()
    last_delete = max(t for path, _, t in fault_proxy.delete_times if PROBE not in path)
    assert build["finished"] < last_delete, "the build published while the cleanup was deleting"

    written = (set(build["fresh"].stage_tags) | set(build["cached"].stage_tags)) - set(w["B"].stage_tags)
    assert len(written) == 4  # 3 fresh stages, 1 on top of B's 2 reused ones
    assert written | set(w["B"].stage_tags) <= world.stage_tags()
    assert {build["c3"], "main", "release"} <= world.image_tags()
    assert build["c3"] in world.metadata_commits()
    audit = world.last_audit()
    assert not set(audit.tag) & (written | {build["c3"], "release"})
    # what the plan did delete is still gone: the feature branch's image
    assert "feature" not in world.image_tags() and not set(w["F"].stage_tags) & world.stage_tags()

    # the next run keeps the new build: young stages by the grace window, main's image by policy
    again = world.cleanup("cleanup", "--without-kube")
    assert again.exit_code == 0, again.output
    assert set(build["fresh"].stage_tags) <= world.stage_tags()
    assert {build["c3"], "main"} <= world.image_tags()
