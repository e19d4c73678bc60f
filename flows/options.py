"""Typer option declarations of the CLI contract (SPEC §9), declared once in groups. Every
option also reads `STAGESWEEP_<OPTION>` from the environment.

`with_options(...)` gives a command the parameters of the named groups, so a command is written
as `def cmd(**kw)` and the option lists are not repeated from command to command.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Optional

import typer

from schemas.settings import DEFAULT_AUDIT_DIR, DEFAULT_HOME
from schemas.vocab import ImagesRepoMode

REQUIRED = inspect.Parameter.empty


def env_name(name: str) -> str:
    return "STAGESWEEP_" + name.upper().replace("-", "_")


def opt(name: str, help: str, **kw):
    return typer.Option(f"--{name}", envvar=env_name(name), help=help, show_envvar=True, **kw)


def _o(name: str, kind: Any, help: str, default: Any = None, **kw) -> tuple[str, Any, Any]:
    return name.replace("-", "_"), Annotated[kind, opt(name, help, **kw)], default


GROUPS: dict[str, list[tuple[str, Any, Any]]] = {
    "repos": [
        _o("images-repo", str, "Images repo: HOST[:PORT]/PATH or oci:DIR.", REQUIRED),
        _o("stages-storage", str, "Stages storage: HOST[:PORT]/PATH, oci:DIR or :local.", REQUIRED),
        _o("images-repo-mode", ImagesRepoMode, "Images repo layout.", ImagesRepoMode.MULTIREPO.value),
    ],
    "repos-mode": [_o("images-repo-mode", ImagesRepoMode, "Images repo layout.", ImagesRepoMode.MULTIREPO.value)],
    "stages-storage": [_o("stages-storage", str, "Stages storage: HOST[:PORT]/PATH, oci:DIR or :local.", REQUIRED)],
    "project": [
        _o("config", str, "werf.yaml path (relative to --dir).", "werf.yaml"),
        _o("dir", str, "Git work tree of the project.", "."),
    ],
    "registry": [
        _o("docker-config", Optional[str], "Docker config dir with registry credentials."),
        _o("insecure-registry", bool, "Use plain HTTP for registries.", False),
        _o("skip-tls-verify-registry", bool, "Do not verify registry TLS certificates.", False),
        _o("docker-host", Optional[str], "Docker daemon address for :local (else DOCKER_HOST)."),
    ],
    "run": [
        _o("dry-run", bool, "Plan and audit only; delete nothing.", False),
        _o("audit-dir", str, "Directory of the Parquet audit.", DEFAULT_AUDIT_DIR),
        _o("parallel-tasks-limit", int, "Concurrent registry requests.", 10, min=1, max=256),
        _o("max-deletions", Optional[int], "Stop before deleting when the plan deletes more than N items.", None, min=0),
    ],
    "grace": [
        _o("keep-stages-built-within-last-n-hours", float, "Grace window for stages (0 disables).", 2, min=0),
    ],
    "git": [
        _o("git-history-synchronization", bool, "Fetch origin branches and tags first.", False),
        _o("allow-git-shallow-clone", bool, "Accept a shallow clone.", False),
    ],
    "kube": [
        _o("without-kube", bool, "Do not protect images used in Kubernetes.", False),
        _o("kube-config", Optional[str], "kubeconfig path (else KUBECONFIG, else ~/.kube/config)."),
        _o("kube-context", Optional[list[str]], "Only this kubeconfig context (repeatable)."),
    ],
    "force": [_o("force", bool, "Also remove containers that use what is purged.", False)],
    "host": [
        _o("dry-run", bool, "List what would be removed; remove nothing.", False),
        _o("home-dir", str, "stagesweep's home directory.", DEFAULT_HOME),
        _o("docker-host", Optional[str], "Docker daemon address (else DOCKER_HOST)."),
        _o("audit-dir", str, "Directory of the Parquet audit.", DEFAULT_AUDIT_DIR),
    ],
    "host-thresholds": [
        _o("docker-storage-path", Optional[str], "Path whose volume usage is measured (default: the daemon's data root)."),
        _o("allowed-docker-storage-volume-usage", float, "Percent.", 70, min=0, max=100),
        _o("allowed-docker-storage-volume-usage-margin", float, "Percent.", 5, min=0, max=100),
        _o("allowed-local-cache-volume-usage", float, "Percent.", 70, min=0, max=100),
        _o("allowed-local-cache-volume-usage-margin", float, "Percent.", 5, min=0, max=100),
    ],
}


def with_options(*groups: str):
    """Add the options of `groups` (in order, each once) to a command written as `def cmd(..., **kw)`."""

    def decorate(fn):
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        added = []
        for group in groups:
            for name, annotation, default in GROUPS[group]:
                if name in names:
                    continue
                names.add(name)
                added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
        fn.__signature__ = signature.replace(parameters=own + added)
        fn.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in added}}
        return fn

    return decorate


CLEANUP = ("repos", "project", "run", "registry")
