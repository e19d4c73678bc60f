"""werf v2's `cleanup` and `purge` options and environment, so that a CI job changes only its
command name (`werf cleanup` → `stagesweep cleanup`). One table says, for every option of werf
v2.77's `werf cleanup` (its `--help`), what stagesweep does with it:

* `ALIASES`: werf's name of an option stagesweep has under another name (one click option, both
  names); `WERF_ENV`: the `WERF_*` variables read after `STAGESWEEP_*` (which wins);
* `TRANSLATED`: werf options stagesweep honours its own way (`--parallel`, werf's boolean
  `--save-cleanup-report` with `--cleanup-report-path`, `--git-work-tree`, `--log-debug`);
* `IGNORED`: accepted, changing nothing, with a one-line note of why;
* `REFUSED`: a usage error (exit 2) saying what to use instead — registry credentials on the
  command line, and Kubernetes connection options stagesweep takes from a kubeconfig.

`translate(values, sources)` turns the werf-only values into settings fields and keeps, by werf's
option name, where they came from (`cli.options.option_sources` says it for every option: command
line, `STAGESWEEP_*`, `WERF_*` or default; the run's audit metadata keeps it). The same table in
words, option by option: `docs/werf-dropin.md`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import UsageError

#: werf's names of options stagesweep has under another name
ALIASES: dict[str, tuple[str, ...]] = {
    "repo_implementation": ("--repo-container-registry",),
    "kube_context": ("--scan-context-only",),
    "kube_scan_namespace": ("--kube-scan-namespaces",),
}

#: the `WERF_*` variables werf's `cleanup` reads for an option, read after `STAGESWEEP_*`.
#: Not read on purpose: WERF_KUBE_CONTEXT (werf's cleanup scans the context of
#: WERF_SCAN_CONTEXT_ONLY only; reading it would narrow the scan), WERF_HOME (werf's own home).
WERF_ENV: dict[str, tuple[str, ...]] = {
    "repo": ("WERF_REPO",),
    "final_repo": ("WERF_FINAL_REPO",),
    "dir": ("WERF_DIR",),
    "config": ("WERF_CONFIG",),
    "env": ("WERF_ENV",),
    "docker_config": ("WERF_DOCKER_CONFIG",),
    "insecure_registry": ("WERF_INSECURE_REGISTRY",),
    "skip_tls_verify_registry": ("WERF_SKIP_TLS_VERIFY_REGISTRY",),
    "repo_implementation": ("WERF_REPO_CONTAINER_REGISTRY",),
    "keep_stages_built_within_last_n_hours": ("WERF_KEEP_STAGES_BUILT_WITHIN_LAST_N_HOURS",),
    "keep_list": ("WERF_KEEP_LIST",),
    "save_cleanup_report": ("WERF_SAVE_CLEANUP_REPORT",),
    "dry_run": ("WERF_DRY_RUN",),
    "parallel_tasks_limit": ("WERF_PARALLEL_TASKS_LIMIT",),
    "without_kube": ("WERF_WITHOUT_KUBE",),
    "kube_config": ("WERF_KUBE_CONFIG", "WERF_KUBECONFIG"),
    "kube_config_base64": ("WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64", "KUBECONFIG_BASE64"),
    "kube_context": ("WERF_SCAN_CONTEXT_ONLY",),
    "scan_context_namespace_only": ("WERF_SCAN_CONTEXT_NAMESPACE_ONLY",),
}

#: the groups of `--help` the werf-only options are shown in
PANEL_TRANSLATED, PANEL_IGNORED, PANEL_REFUSED = "werf options", "werf options ignored", "werf options refused"
PANELS = (PANEL_TRANSLATED, PANEL_IGNORED, PANEL_REFUSED)


@dataclass(frozen=True)
class WerfOption:
    """A werf option with no stagesweep field of its name."""

    param: str  # the click parameter's name (werf_…)
    names: tuple[str, ...]  # its option names, werf's spelling
    help: str
    flag: bool = False  # werf's boolean (`--x`, `--x=false`)
    multiple: bool = False
    envvars: tuple[str, ...] = ()
    panel: str = PANEL_TRANSLATED


def _opt(
    names: str, help: str, *, flag: bool = False, multiple: bool = False, env: str = "", panel: str = PANEL_TRANSLATED
) -> WerfOption:
    spelled = tuple(names.split())
    param = "werf_" + spelled[0].lstrip("-").replace("-", "_")
    return WerfOption(param, spelled, help, flag, multiple, tuple(env.split()), panel)


#: werf options stagesweep honours its own way (see `translate`)
TRANSLATED: tuple[WerfOption, ...] = (
    _opt(
        "--parallel -p",
        "werf's --parallel (default true): --parallel=false runs one registry request at a time (--parallel-tasks-limit 1).",
        flag=True,
        env="WERF_PARALLEL",
    ),
    _opt(
        "--cleanup-report-path",
        "werf's report path for its boolean --save-cleanup-report (default .werf-cleanup-report.json; "
        ".json is added when the name has no extension). --save-cleanup-report FILE says both at once.",
        env="WERF_CLEANUP_REPORT_PATH",
    ),
    _opt(
        "--git-work-tree",
        "werf's git work tree: stagesweep finds it from --dir (a directory inside it), and refuses a "
        "--dir outside the work tree named here, as werf does.",
        env="WERF_GIT_WORK_TREE",
    ),
    _opt("--log-debug --debug", "werf's debug output: stagesweep's --debug.", flag=True, env="WERF_LOG_DEBUG WERF_DEBUG"),
    _opt(
        "--loose-giterminism",
        "werf's loose giterminism, as WERF_LOOSE_GITERMINISM=1: werf.yaml's `env` of an unset variable "
        "without a default reads as empty instead of stopping the run.",
        flag=True,
    ),
    _opt(
        "--config-templates-dir",
        "werf's templates directory: stagesweep reads .werf in --dir, so only that directory is accepted.",
        env="WERF_CONFIG_TEMPLATES_DIR",
    ),
    _opt(
        "--final-repo-container-registry",
        "werf's implementation of --final-repo: stagesweep cleans --final-repo with --repo-implementation "
        "(--repo-container-registry), so only the same value (or auto) is accepted.",
        env="WERF_FINAL_REPO_CONTAINER_REGISTRY",
    ),
)

#: accepted and ignored: option names → why nothing changes
_IGNORED: dict[str, tuple[str, bool, bool]] = {
    # names: (what is ignored and why, flag, multiple)
    "--synchronization -S": ("runs of one storage exclude each other through stagesweep's own locks", False, False),
    "--secondary-repo": ("read-only cache repos are never cleaned", False, True),
    "--cache-repo": ("cache repos are never cleaned", False, True),
    "--container-registry-mirror": ("registry mirrors only serve builds", False, True),
    "--platform": ("all platforms of a stage are cleaned together", False, True),
    "--dev": ("the werf.yaml is read from the work tree", True, False),
    "--dev-branch": ("there is no development mode", False, False),
    "--dev-ignore": ("there is no development mode", False, True),
    "--giterminism-config": ("giterminism does not apply to reading werf.yaml here", False, False),
    "--config-render-path": ("`stagesweep config render` prints the rendered werf.yaml", False, False),
    "--debug-templates": ("template errors always name their file and line", True, False),
    "--allow-includes-update": ("werf includes are not read", True, False),
    "--tmp-dir": ("stagesweep keeps no temporary project files", False, False),
    "--project-name -N": ("werf uses it for host cleanup only; the project is werf.yaml's", False, False),
    "--insecure-helm-dependencies": ("a no-op in werf too", True, False),
    "--disable-auto-host-cleanup": ("stagesweep cleanup never cleans the host; run `stagesweep host cleanup`", True, False),
    "--allowed-backend-storage-volume-usage": ("no host cleanup here; see `stagesweep host cleanup`", False, False),
    "--allowed-backend-storage-volume-usage-margin": ("no host cleanup here; see `stagesweep host cleanup`", False, False),
    "--allowed-local-cache-volume-usage": ("no host cleanup here; see `stagesweep host cleanup`", False, False),
    "--allowed-local-cache-volume-usage-margin": ("no host cleanup here; see `stagesweep host cleanup`", False, False),
    "--backend-storage-path": ("no host cleanup here; see `stagesweep host cleanup`", False, False),
    "--log-color-mode": ("stagesweep colours only a terminal", False, False),
    "--log-pretty": ("werf's log layout", True, False),
    "--log-quiet --quiet": ("stagesweep prints a summary only", True, False),
    "--log-verbose --verbose": ("use --debug", True, False),
    "--log-time": ("the audit records every decision's time", True, False),
    "--log-time-format": ("the audit records every decision's time", False, False),
    "--log-terminal-width": ("output follows the terminal", False, False),
    "--log-project-dir": ("the summary names the audit file", True, False),
}
IGNORED: tuple[WerfOption, ...] = tuple(
    _opt(names, f"Ignored: {why}.", flag=flag, multiple=multiple, panel=PANEL_IGNORED)
    for names, (why, flag, multiple) in _IGNORED.items()
)

_CREDENTIALS = (
    "registry credentials come from the Docker config (--docker-config, WERF_DOCKER_CONFIG, DOCKER_CONFIG, "
    "~/.docker/config.json — `werf ci-env` and `docker login` write it) or a Prefect Secret block "
    "(--docker-config-secret, --registry-secret HOST=BLOCK), never from the command line"
)
_KUBECONFIG = (
    "stagesweep reaches Kubernetes through a kubeconfig: put the API server, its CA and the token in one "
    "and pass --kube-config or --kube-config-base64 (WERF_KUBE_CONFIG_BASE64), or run in a pod with a "
    "service account"
)
_CREDENTIAL_OPTIONS = tuple(
    f"--{repo}-{what}"
    for repo in ("repo", "final-repo")
    for what in (
        "docker-hub-username",
        "docker-hub-password",
        "docker-hub-token",
        "github-token",
        "harbor-username",
        "harbor-password",
        "quay-token",
    )
)
#: refused (exit 2): option names (one parameter each group) → what to use instead
_REFUSED: dict[str, str] = {
    " ".join(_CREDENTIAL_OPTIONS): _CREDENTIALS,
    "--kube-token --kube-token-path --kube-api-server --kube-ca-data": _KUBECONFIG,
    "--skip-tls-verify-kube": _KUBECONFIG + " (insecure-skip-tls-verify: true in its cluster entry)",
}
REFUSED: tuple[WerfOption, ...] = tuple(
    _opt(
        names,
        "Not supported: registry credentials come only from the Docker config or a Prefect Secret block."
        if instead is _CREDENTIALS
        else "Not supported: give stagesweep a kubeconfig (--kube-config, --kube-config-base64).",
        flag=names == "--skip-tls-verify-kube",
        panel=PANEL_REFUSED,
    )
    for names, instead in _REFUSED.items()
)
_REFUSED_WHY = {o.param: instead for o, instead in zip(REFUSED, _REFUSED.values())}

#: werf's credential variables: stagesweep does not read them (a note says so when one is set)
CREDENTIAL_ENV = tuple(f"WERF_{name[2:].upper().replace('-', '_')}" for name in _CREDENTIAL_OPTIONS)

ALL: tuple[WerfOption, ...] = TRANSLATED + IGNORED + REFUSED
BY_PARAM = {o.param: o for o in ALL}

#: werf's booleans take a value after `=`, as Go's strconv.ParseBool reads it
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
#: werf's default report path
DEFAULT_REPORT_PATH = ".werf-cleanup-report.json"


def go_bool(option: str, value: str) -> bool:
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    raise UsageError(f"{option}={value}: not a boolean (true, false, 1, 0)")


def _report_path(path: str) -> str:
    return path if Path(path).suffix else path + ".json"


def _truthy(option: str, value: str, source: str) -> bool:
    """A werf boolean: strict on the command line (as Go's ParseBool), lenient in the environment."""
    if source.startswith("command line"):
        return go_bool(option, value)
    return value.strip().lower() in ("1", "t", "true", "yes", "y", "on")


def translate(values: dict[str, Any], sources: dict[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Turn the werf-only options of `values` (a command's parameters) into settings fields, in
    place: they leave `values`, and `sources` names them by werf's option name. Returns the notes
    to print (one line each); a refused option is a usage error (exit 2)."""
    env = os.environ if environ is None else environ
    notes: list[str] = []
    given: dict[str, Any] = {}
    for name in [n for n in values if n in BY_PARAM]:
        value = values.pop(name)
        source = sources.pop(name, "default")
        if value in (None, "", (), []):
            continue
        option = BY_PARAM[name]
        given[name] = value
        sources[option.names[0]] = source
        if name in _REFUSED_WHY:
            used = source.partition("(")[2].rstrip(")") or option.names[0]  # the name on the command line
            raise UsageError(f"{used} is not supported: {_REFUSED_WHY[name]}")
        if option in IGNORED:
            notes.append(f"note: {option.names[0]} ignored: {option.help.removeprefix('Ignored: ').rstrip('.')}")
            sources[option.names[0]] = f"{source}, ignored"

    parallel = given.get("werf_parallel")
    if parallel is not None and not _truthy("--parallel", parallel, sources["--parallel"]):
        if sources.get("parallel_tasks_limit", "default") == "default":
            values["parallel_tasks_limit"] = 1
            sources["parallel_tasks_limit"] = f"{sources['--parallel']} (--parallel=false)"
    _save_report(values, given, sources)
    debug = given.get("werf_log_debug")
    if debug is not None and _truthy("--log-debug", debug, sources["--log-debug"]):
        os.environ["STAGESWEEP_DEBUG"] = "true"
    loose = given.get("werf_loose_giterminism")
    if loose is not None and _truthy("--loose-giterminism", loose, sources["--loose-giterminism"]):
        os.environ["WERF_LOOSE_GITERMINISM"] = "1"  # what the werf.yaml reader asks
    if sources.get("config") == "WERF_CONFIG" and not Path(values["config"]).is_absolute():
        # werf reads its --config relative to the working directory, stagesweep's to --dir
        values["config"] = str(Path(values["config"]).absolute())
    if sources.get("env") == "WERF_ENV" and not values.get("repo"):
        # werf v1.1's werf.yaml has no .Env from the environment: WERF_ENV is werf 2.x's
        values["env"] = ""
        sources["env"] = "WERF_ENV, not read for werf v1.1 storages"
    work_tree = given.get("werf_git_work_tree")
    if work_tree:
        inside = Path(values.get("dir") or ".").expanduser().resolve()
        tree = Path(work_tree).expanduser().resolve()
        if inside != tree and tree not in inside.parents:
            raise UsageError(
                f"--dir {inside} is outside the git work tree {tree} (--git-work-tree): the project directory "
                "must be inside the git work tree, as in werf"
            )
    templates = given.get("werf_config_templates_dir")
    if templates:
        wanted = (Path(values.get("dir") or ".").expanduser() / ".werf").resolve()
        if Path(templates).expanduser().resolve() != wanted:
            raise UsageError(f"--config-templates-dir {templates} is not supported: stagesweep reads the templates of {wanted}")
    final = given.get("werf_final_repo_container_registry")
    if final and final != "auto":
        repo = getattr(values.get("repo_implementation"), "value", values.get("repo_implementation")) or "auto"
        if final != repo:
            raise UsageError(
                f"--final-repo-container-registry {final} is not supported beside --repo-container-registry {repo}: "
                "stagesweep cleans --repo and --final-repo with one implementation; pass "
                f"--repo-container-registry {final} when both are {final}"
            )
    if (
        values.get("kube_scan_namespace")
        and values.get("scan_context_namespace_only")
        and (
            "--kube-scan-namespaces" in sources.get("kube_scan_namespace", "")
            or sources.get("scan_context_namespace_only") == "WERF_SCAN_CONTEXT_NAMESPACE_ONLY"
        )
    ):
        # werf: the namespaces named take precedence over each context's own namespace
        values["scan_context_namespace_only"] = False
        notes.append("note: --kube-scan-namespaces takes precedence over --scan-context-namespace-only, as in werf")
    base64_source = sources.get("kube_config_base64", "")
    if values.get("kube_config") and values.get("kube_config_base64") and base64_source in WERF_ENV["kube_config_base64"]:
        # a kubeconfig named for this run wins over werf's variable of the CI environment
        values["kube_config_base64"] = None
        sources["kube_config_base64"] = f"{base64_source}, ignored beside --kube-config"
        notes.append(f"note: --kube-config is used; {base64_source} is not")
    for variable in CREDENTIAL_ENV:
        if env.get(variable):
            notes.append(f"note: {variable} is not read: {_CREDENTIALS}")
    return notes


def _save_report(values: dict[str, Any], given: dict[str, Any], sources: dict[str, str]) -> None:
    """werf's boolean --save-cleanup-report (WERF_SAVE_CLEANUP_REPORT) with --cleanup-report-path,
    or stagesweep's --save-cleanup-report FILE."""
    value = values.get("save_cleanup_report")
    path = given.get("werf_cleanup_report_path")
    if value in GO_TRUE or (value or "").lower() in ("yes", "true"):
        values["save_cleanup_report"] = _report_path(path or DEFAULT_REPORT_PATH)
    elif value in GO_FALSE or (value or "").lower() in ("no", "false"):
        values["save_cleanup_report"] = None
    elif path and value is None:
        sources["--cleanup-report-path"] += ", ignored without --save-cleanup-report"


def environment_source(envvars: Any, environ: Mapping[str, str] | None = None) -> str:
    """The variable an option's value came from: the first of `envvars` that is set (not empty),
    as click reads them."""
    env = os.environ if environ is None else environ
    names = [envvars] if isinstance(envvars, str) else list(envvars or ())
    for name in names:
        if env.get(name):
            return name
    return "environment"
