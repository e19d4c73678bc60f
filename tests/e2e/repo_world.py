"""A werf 1.2 / 2.x project for end-to-end tests: a git project with an origin, one repository
(`--repo`) on the real registry or an OCI layout filled by `Werf2Publisher`, and a CLI runner
whose every call names that repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from adapters.storage.werf2_publisher import Werf2Publisher
from adapters.storage.werf2_repo import open_repo
from cli.app import app

WERF_YAML = "project: {project}\nconfigVersion: 1\n{extra}---\nimage: app\n---\nimage: worker\n"


@dataclass
class RepoWorld:
    git: object  # tests.fixtures.gitrepo.GitProject
    address: str  # --repo
    options: object  # RegistryOptions (None for an OCI layout)
    audit_dir: Path
    project: str = "acme"
    extra_args: list[str] = field(default_factory=list)

    def write_config(self, extra: str = "") -> None:
        (self.git.work / "werf.yaml").write_text(WERF_YAML.format(project=self.project, extra=extra))

    def repo(self, address: str | None = None):
        return open_repo(address or self.address, self.project, self.options)

    def publisher(self, address: str | None = None) -> Werf2Publisher:
        return Werf2Publisher(self.repo(address).backend, address or self.address, self.project)

    def cli(self, *args: str, env: dict | None = None):
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    def run(self, *words: str, env: dict | None = None):
        """`stagesweep WORDS --repo … --dir … --audit-dir …` (options after the words)."""
        return self.cli(
            *words,
            "--repo",
            self.address,
            "--dir",
            str(self.git.work),
            "--audit-dir",
            str(self.audit_dir),
            *self.extra_args,
            env=env,
        )

    def tags(self, address: str | None = None) -> set[str]:
        repo = self.repo(address)
        try:
            return set(repo.backend.list_tags(repo.repository))
        finally:
            repo.close()

    def audits(self) -> list[Path]:
        return sorted(self.audit_dir.rglob("*.parquet"), key=lambda p: p.stat().st_mtime)

    def last_audit(self):
        return pq.read_table(self.audits()[-1]).to_pandas()


def registry_repo_world(git_project, registry, unique_repo, tmp_path, host: str | None = None) -> RepoWorld:
    """The repository on the real registry, addressed through `host` when given (a fault proxy)."""
    world = RepoWorld(
        git=git_project,
        address=f"{host or registry.host}/{unique_repo}/werf2",
        options=registry.options(),
        audit_dir=tmp_path / "audit",
        extra_args=["--insecure-registry"],
    )
    world.write_config()
    return world


def oci_repo_world(git_project, tmp_path) -> RepoWorld:
    world = RepoWorld(git=git_project, address=f"oci:{tmp_path / 'repo'}", options=None, audit_dir=tmp_path / "audit")
    world.write_config()
    return world
