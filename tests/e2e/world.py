"""A werf world for end-to-end tests: a git project with an origin, a registry stages storage
and images repo filled by the publisher, and a CLI runner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from adapters.storage import open_images_repo, open_stages_storage
from adapters.storage.publisher import Publisher
from cli.app import app

WERF_YAML = "project: {project}\nconfigVersion: 1\n{extra}---\nimage: app\n"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def ago(hours: float = 0, days: float = 0) -> dt.datetime:
    return utcnow() - dt.timedelta(hours=hours, days=days)


@dataclass
class World:
    git: object  # tests.fixtures.gitrepo.GitProject
    stages_address: str
    images_address: str
    options: object
    audit_dir: Path
    project: str = "acme"
    mode: str = "multirepo"
    extra_args: list[str] = field(default_factory=list)

    def write_config(self, extra: str = "") -> None:
        (self.git.work / "werf.yaml").write_text(WERF_YAML.format(project=self.project, extra=extra))

    def stages(self):
        return open_stages_storage(self.stages_address, self.project, self.options)

    def images(self):
        return open_images_repo(self.images_address, self.project, self.mode, self.options)

    def publisher(self) -> Publisher:
        return Publisher(self.stages(), self.images())

    def cli(self, *args: str, env: dict | None = None):
        """Run `stagesweep ARGS` in-process against this world's storages."""
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    def storage_args(self, *, images_repo: str | None = None, git_dir=None, audit_dir=None) -> list[str]:
        """`--images-repo … --stages-storage … --dir … --audit-dir …` of this world (any overridden)."""
        return [
            "--images-repo",
            images_repo or self.images_address,
            "--stages-storage",
            self.stages_address,
            "--dir",
            str(git_dir or self.git.work),
            "--audit-dir",
            str(audit_dir or self.audit_dir),
        ]

    def cleanup(self, command: str = "cleanup", *args: str, env: dict | None = None):
        words = command.split()
        return self.cli(*words, *self.storage_args(), "--images-repo-mode", self.mode, *self.extra_args, *args, env=env)

    def image_tags(self) -> set[str]:
        return set(self.images().list_image_tags(["app"]).column("tag").to_pylist())

    def stage_tags(self) -> set[str]:
        return set(self.stages().list_stages().column("tag").to_pylist())

    def metadata_commits(self) -> set[str]:
        return set(self.stages().list_metadata().column("commit").to_pylist())

    def audits(self) -> list[Path]:
        return sorted(self.audit_dir.rglob("*.parquet"), key=lambda p: p.stat().st_mtime)

    def last_audit(self):
        return pq.read_table(self.audits()[-1]).to_pandas()


def registry_world(git_project, registry, unique_repo, tmp_path, mode="multirepo", host=None) -> World:
    host = host or registry.host
    world = World(
        git=git_project,
        stages_address=f"{host}/{unique_repo}/stages",
        images_address=f"{host}/{unique_repo}/images",
        options=registry.options(),
        audit_dir=tmp_path / "audit",
        mode=mode,
        extra_args=["--insecure-registry"],
    )
    if host != registry.host:
        world.options = registry.options()
    world.write_config()
    return world


def basic_world(world):
    """main: c1 (3 d), c2 (1 d); feature: f1 (2 d) from c1, then deleted from origin.
    Images: A for c1, B for c2 (reusing A's first stage), F for f1. Commit and branch tags."""
    g = world.git
    c1 = g.commit("main", ago(days=3))
    c2 = g.commit("main", ago(days=1))
    f1 = g.commit("feature", ago(days=2), parents=[c1])
    with world.publisher() as pub:
        pub.manage("app")
        a = pub.build("app", built_at=ago(days=3))
        b = pub.build("app", built_at=ago(days=1), base=a, reuse=1)
        f = pub.build("app", built_at=ago(days=2))
        pub.publish(a, c1, c1)
        pub.publish(b, c2, c2)
        pub.publish(b, "main", c2)
        pub.publish(f, f1, f1)
        pub.publish(f, "feature", f1)
    g.push()
    g.delete_origin_branch("feature")
    return {"c1": c1, "c2": c2, "f1": f1, "A": a, "B": b, "F": f}
