"""Typer option declarations shared by the commands (SPEC §9). Every option also reads
`STAGESWEEP_<OPTION>` from the environment."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from schemas.vocab import ImagesRepoMode


def _env(name: str) -> str:
    return "STAGESWEEP_" + name.upper().replace("-", "_")


def opt(name: str, help: str, **kw):
    return typer.Option(f"--{name}", envvar=_env(name), help=help, show_envvar=True, **kw)


ImagesRepo = Annotated[str, opt("images-repo", "Images repo: HOST[:PORT]/PATH or oci:DIR.")]
StagesStorage = Annotated[str, opt("stages-storage", "Stages storage: HOST[:PORT]/PATH, oci:DIR or :local.")]
Config = Annotated[str, opt("config", "werf.yaml path (relative to --dir).")]
Dir = Annotated[str, opt("dir", "Git work tree of the project.")]
Mode = Annotated[ImagesRepoMode, opt("images-repo-mode", "Images repo layout.")]
DryRun = Annotated[bool, opt("dry-run", "Plan and audit only; delete nothing.")]
AuditDir = Annotated[str, opt("audit-dir", "Directory of the Parquet audit.")]
DockerConfig = Annotated[Optional[str], opt("docker-config", "Docker config dir with registry credentials.")]
Insecure = Annotated[bool, opt("insecure-registry", "Use plain HTTP for registries.")]
SkipTls = Annotated[bool, opt("skip-tls-verify-registry", "Do not verify registry TLS certificates.")]
Parallel = Annotated[int, opt("parallel-tasks-limit", "Concurrent registry requests.", min=1, max=256)]
MaxDeletions = Annotated[Optional[int], opt("max-deletions", "Stop before deleting when the plan deletes more than N items.", min=0)]
KeepHours = Annotated[float, opt("keep-stages-built-within-last-n-hours", "Grace window for stages (0 disables).", min=0)]
GitSync = Annotated[bool, opt("git-history-synchronization", "Fetch origin branches and tags first.")]
AllowShallow = Annotated[bool, opt("allow-git-shallow-clone", "Accept a shallow clone.")]
WithoutKube = Annotated[bool, opt("without-kube", "Do not protect images used in Kubernetes.")]
KubeConfig = Annotated[Optional[str], opt("kube-config", "kubeconfig path (else KUBECONFIG, else ~/.kube/config).")]
KubeContext = Annotated[Optional[list[str]], opt("kube-context", "Only this kubeconfig context (repeatable).")]
Force = Annotated[bool, opt("force", "Also remove containers that use what is purged.")]
DockerHost = Annotated[Optional[str], opt("docker-host", "Docker daemon address (else DOCKER_HOST).")]
HomeDir = Annotated[str, opt("home-dir", "stagesweep's home directory.")]
