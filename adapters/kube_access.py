"""Where the Kubernetes clusters are, which contexts and namespaces to list, and a client per
context (SPEC §6). Listing the workloads is :mod:`adapters.kube`.

Where the clusters are, the first that applies:

1. ``kube_config_base64``, else ``$STAGESWEEP_KUBE_CONFIG_BASE64`` (then, without ``kube_config``,
   werf's ``$WERF_KUBE_CONFIG_BASE64``, ``$WERF_KUBECONFIG_BASE64``, ``$KUBECONFIG_BASE64``): a kubeconfig's content
   (``--kube-config-base64``, e.g. a CI variable; the settings never serialise it, so a deployment
   run finds it in its environment). It is a credential: it stays in memory and no message ever
   quotes it;
2. ``kube_config``, else ``$KUBECONFIG`` (a ``:``-separated list), else ``~/.kube/config``;
3. inside a pod, when none of those is given and ``~/.kube/config`` does not exist: the pod's
   service account (its token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount``, a
   directory ``$STAGESWEEP_KUBE_SERVICE_ACCOUNT_DIR`` overrides; the API server of
   ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT``), as one context named ``in-cluster``.
   A ``--kube-config`` or ``KUBECONFIG`` that names no file is an error, never a fall-back to
   the cluster the pod runs in.

Which namespaces: all of them (cluster-scope lists) unless ``context_namespace_only`` (each
context's own namespace, ``default`` when it names none; in-cluster, the service account's) or
``namespaces`` (those, in every context).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import ENV_KUBECONFIG_PATH_SEPARATOR, KubeConfigMerger

from schemas.errors import KubeError

DEFAULT_KUBECONFIG = "~/.kube/config"
WITHOUT_KUBE_HINT = "pass --without-kube to clean without the Kubernetes check"

#: the base64 kubeconfig, read here too: it is never a Prefect parameter
KUBE_CONFIG_BASE64_ENV = "STAGESWEEP_KUBE_CONFIG_BASE64"
#: werf's variables of the same, read after it (a `werf cleanup` job's environment)
WERF_KUBE_CONFIG_BASE64_ENVS = ("WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64", "KUBECONFIG_BASE64")
#: where Kubernetes mounts a pod's service account (token, ca.crt, namespace)
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: overrides SERVICE_ACCOUNT_DIR (tests, or a token mounted elsewhere)
SERVICE_ACCOUNT_DIR_ENV = "STAGESWEEP_KUBE_SERVICE_ACCOUNT_DIR"
SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"
SERVICE_PORT_ENV = "KUBERNETES_SERVICE_PORT"
IN_CLUSTER_CONTEXT = "in-cluster"
DEFAULT_NAMESPACE = "default"
#: a namespace name (RFC 1123 label)
_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: how long a service-account token is used before the file is read again (the kubelet rotates it)
TOKEN_REREAD_SECONDS = 60.0

#: the sources of the clusters (``KubeScan.source``)
SOURCE_KUBECONFIG = "kubeconfig"
SOURCE_KUBECONFIG_BASE64 = "kubeconfig-base64"
SOURCE_IN_CLUSTER = "in-cluster"
#: the namespace scopes (``KubeScan.scope``)
SCOPE_ALL = "all-namespaces"
SCOPE_CONTEXT_NAMESPACE = "context-namespace"
SCOPE_NAMESPACES = "namespaces"


@dataclass(frozen=True)
class KubeOptions:
    """Where the clusters are, which namespaces, and how to list them."""

    kube_config: str | None = None  # file (or ":"-separated list); None: $KUBECONFIG, else ~/.kube/config
    kube_config_base64: str | None = field(default=None, repr=False)  # a kubeconfig's content (a credential)
    contexts: list[str] | None = None  # None or empty: every context of the kubeconfig
    context_namespace_only: bool = False  # each context's own namespace only
    namespaces: list[str] | None = None  # only these namespaces, in every context
    service_account_dir: str | None = None  # None: $STAGESWEEP_KUBE_SERVICE_ACCOUNT_DIR, else SERVICE_ACCOUNT_DIR
    parallel: int = 10  # concurrent list calls over all contexts, namespaces and kinds
    page_size: int = 500  # `limit` of every list call
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 60.0  # seconds per page


Connect = Callable[[str, client.Configuration], client.ApiClient]


@dataclass(frozen=True)
class KubeSource:
    """The contexts one can list and how to make a client for each."""

    kind: str  # SOURCE_*
    where: str  # in messages
    namespaces: dict[str, str]  # context → its own namespace, in kubeconfig order
    connect: Connect = field(repr=False, compare=False)
    kubeconfig: str | None = None


def kubeconfig_paths(kube_config: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The kubeconfig files to merge, in order: ``kube_config``, else ``$KUBECONFIG``
    (a ``:``-separated list), else ``~/.kube/config``. Files may not exist."""
    env = os.environ if environ is None else environ
    source = kube_config or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return [os.path.expanduser(p) for p in source.split(ENV_KUBECONFIG_PATH_SEPARATOR) if p]


def _context_namespaces(contexts: Any) -> dict[str, str]:
    """Context name → its namespace (``default`` when it names none); the first of a name wins."""
    out: dict[str, str] = {}
    for entry in contexts or ():
        entry = getattr(entry, "value", entry)  # the merger wraps entries in ConfigNodes
        settings = entry.get("context") or {}
        out.setdefault(str(entry["name"]), str(settings.get("namespace") or DEFAULT_NAMESPACE))
    return out


def _file_source(merged: str) -> KubeSource:
    try:
        # The merger, not list_kube_config_contexts: that one fails without a current-context.
        merger = KubeConfigMerger(merged)
        namespaces = _context_namespaces(merger.config.value.get("contexts") if merger.config else ())
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise KubeError(
            f"cannot read kubeconfig {merged}: {exc}",
            hint="fix the file (kubectl config view shows what is wrong) or " + WITHOUT_KUBE_HINT,
        ) from exc

    def connect(context: str, configuration: client.Configuration) -> client.ApiClient:
        return config.new_client_from_config(
            config_file=merged, context=context, persist_config=False, client_configuration=configuration
        )

    return KubeSource(SOURCE_KUBECONFIG, f"kubeconfig {merged}", namespaces, connect, kubeconfig=merged)


def _base64_source(encoded: str) -> KubeSource:
    """The kubeconfig of --kube-config-base64. No message quotes it, and no exception that could
    (a YAML error shows the lines around it) is chained to the error raised."""
    where = "the kubeconfig of --kube-config-base64"
    hint = "give the whole kubeconfig file base64-encoded (base64 -w0 ~/.kube/config) or " + WITHOUT_KUBE_HINT
    try:
        text = base64.b64decode("".join(encoded.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise KubeError("--kube-config-base64 is not a base64-encoded kubeconfig (its value is not shown)", hint=hint) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise KubeError(f"{where} is not valid YAML{at} (its content is not shown)", hint=hint) from None
    try:
        if not isinstance(document, dict):
            raise TypeError("not a mapping")
        namespaces = _context_namespaces(document.get("contexts"))
    except (KeyError, TypeError, AttributeError):
        raise KubeError(f"{where} is not a kubeconfig (a mapping with named contexts)", hint=hint) from None

    def connect(context: str, configuration: client.Configuration) -> client.ApiClient:
        return config.new_client_from_config_dict(
            config_dict=document, context=context, persist_config=False, client_configuration=configuration
        )

    return KubeSource(SOURCE_KUBECONFIG_BASE64, where, namespaces, connect)


class _ServiceAccountToken:
    """The mounted service-account token, read again once a minute: the kubelet rotates it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_at = -math.inf
        self.lock = threading.Lock()

    def read(self) -> str:
        token = self.path.read_text().strip()
        if not token:
            raise OSError(f"{self.path} is empty")
        return token

    def refresh(self, configuration: client.Configuration) -> None:
        """The client's ``refresh_api_key_hook``: called before each request."""
        if time.monotonic() - self.read_at < TOKEN_REREAD_SECONDS:
            return
        with self.lock:
            if time.monotonic() - self.read_at < TOKEN_REREAD_SECONDS:
                return
            try:
                configuration.api_key["BearerToken"] = self.read()
            except OSError:
                if "BearerToken" not in configuration.api_key:
                    raise
                # a rotation under way: the token read last is still valid for a while
            self.read_at = time.monotonic()


def service_account_dir(options: KubeOptions, environ: Mapping[str, str]) -> Path:
    return Path(options.service_account_dir or environ.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR)


def _in_pod(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(SERVICE_HOST_ENV) and environ.get(SERVICE_PORT_ENV))


def _in_cluster_source(directory: Path, environ: Mapping[str, str]) -> KubeSource:
    host, port = environ[SERVICE_HOST_ENV], environ[SERVICE_PORT_ENV]
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    token_file, ca_file, namespace_file = directory / "token", directory / "ca.crt", directory / "namespace"
    where = f"the in-cluster service account ({directory}, API server {server})"
    missing = [p for p in (token_file, ca_file) if not p.is_file() or p.stat().st_size == 0]
    if missing:
        raise KubeError(
            f"running in a pod ({SERVICE_HOST_ENV} is set) with no kubeconfig, but the service account's "
            f"{' and '.join(str(p) for p in missing)} {'is' if len(missing) == 1 else 'are'} missing or empty",
            hint="mount the service account token (automountServiceAccountToken: true), point "
            f"{SERVICE_ACCOUNT_DIR_ENV} at where it is mounted, pass --kube-config or --kube-config-base64, or "
            + WITHOUT_KUBE_HINT,
        )
    try:
        namespace = namespace_file.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        namespace = DEFAULT_NAMESPACE
    token = _ServiceAccountToken(token_file)

    def connect(context: str, configuration: client.Configuration) -> client.ApiClient:
        configuration.host = server
        configuration.ssl_ca_cert = str(ca_file)
        configuration.api_key_prefix["BearerToken"] = "Bearer"
        configuration.refresh_api_key_hook = token.refresh  # type: ignore[assignment]
        token.refresh(configuration)
        return client.ApiClient(configuration)

    return KubeSource(SOURCE_IN_CLUSTER, where, {IN_CLUSTER_CONTEXT: namespace}, connect)


def select_source(options: KubeOptions, environ: Mapping[str, str] | None = None) -> KubeSource:
    """Where the clusters are (see the module's doc): the base64 kubeconfig, the kubeconfig
    files, or the in-cluster service account."""
    env = os.environ if environ is None else environ
    # the option never travels in Prefect parameters: a deployment run (or a run retried in place)
    # finds it in its environment
    werf_names = () if options.kube_config else WERF_KUBE_CONFIG_BASE64_ENVS  # a kubeconfig given wins over them
    encoded = options.kube_config_base64 or next(
        (env[name] for name in (KUBE_CONFIG_BASE64_ENV, *werf_names) if env.get(name)), None
    )
    if encoded:
        if options.kube_config:
            raise KubeError(
                "--kube-config and --kube-config-base64 both name a kubeconfig",
                hint="give one of them (STAGESWEEP_KUBE_CONFIG_BASE64 in the environment counts as --kube-config-base64)",
            )
        return _base64_source(encoded)
    paths = kubeconfig_paths(options.kube_config, env)
    existing = [p for p in paths if os.path.isfile(p)]
    if existing:
        return _file_source(ENV_KUBECONFIG_PATH_SEPARATOR.join(existing))
    if not options.kube_config and not env.get("KUBECONFIG") and _in_pod(env):
        return _in_cluster_source(service_account_dir(options, env), env)
    where = ", ".join(paths) or DEFAULT_KUBECONFIG
    raise KubeError(
        f"no kubeconfig found at {where}; {WITHOUT_KUBE_HINT}",
        hint="or point --kube-config (or KUBECONFIG) at the kubeconfig of the clusters that run these images, "
        "pass its content in --kube-config-base64, or run inside a pod with a service account (in-cluster)",
    )


def select_contexts(source: KubeSource, wanted: list[str] | None) -> list[str]:
    """The contexts to scan: ``wanted`` (an unknown one is an error listing the known ones), else all."""
    known = list(source.namespaces)
    if not known:
        raise KubeError(f"{source.where} defines no contexts", hint=WITHOUT_KUBE_HINT)
    if not wanted:
        return known
    unknown = [c for c in wanted if c not in source.namespaces]
    if unknown:
        raise KubeError(
            f"unknown Kubernetes context {', '.join(map(repr, unknown))} in {source.where}; known contexts: {', '.join(known)}",
            context=unknown[0],
            hint="pass one of the known contexts to --kube-context",
        )
    return list(dict.fromkeys(wanted))


def select_namespaces(options: KubeOptions, source: KubeSource, contexts: list[str]) -> tuple[str, dict[str, list[str] | None]]:
    """(scope, context → the namespaces to list, None meaning all of them)."""
    if options.context_namespace_only and options.namespaces:
        raise KubeError(
            "--scan-context-namespace-only and --kube-scan-namespace both choose the namespaces to scan",
            hint="give one of them: each context's own namespace, or the namespaces you name",
        )
    if options.namespaces:
        bad = [n for n in options.namespaces if not _NAMESPACE_NAME.fullmatch(n)]
        if bad:
            raise KubeError(
                f"--kube-scan-namespace {', '.join(map(repr, bad))}: not a namespace name "
                "(lower-case letters, digits and '-', at most 63 characters)",
                hint="pass the namespace as kubectl get namespaces shows it",
            )
        chosen = list(dict.fromkeys(options.namespaces))
        return SCOPE_NAMESPACES, {context: chosen for context in contexts}
    if options.context_namespace_only:
        return SCOPE_CONTEXT_NAMESPACE, {context: [source.namespaces[context]] for context in contexts}
    return SCOPE_ALL, {context: None for context in contexts}


def api_client(source: KubeSource, context: str, options: KubeOptions) -> client.ApiClient:
    """One client per context: its server, TLS and credentials (token, client certificate,
    exec or auth-provider plugin). No urllib3 retries: a dead server fails fast."""
    configuration = client.Configuration()
    configuration.retries = False
    configuration.connection_pool_maxsize = max(1, options.parallel)
    try:
        return source.connect(context, configuration)
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise KubeError(
            f"cannot load the credentials of Kubernetes context {context!r} from {source.where}: {exc}",
            context=context,
            hint=f"check the context's user entry (kubectl --context {context} get pods) or " + WITHOUT_KUBE_HINT,
        ) from (None if source.kind == SOURCE_KUBECONFIG_BASE64 else exc)
