"""Images used by Kubernetes workloads, read with the official ``kubernetes`` client (SPEC §6).

Where the clusters are, the first that applies:

1. ``kube_config_base64``, else ``$STAGESWEEP_KUBE_CONFIG_BASE64``: a kubeconfig's content
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

Every selected (context × namespace scope) is listed for every workload kind in
``WORKLOAD_KINDS``, following ``continue`` pages to the end; the listings run concurrently. The
scan fails closed: any list that cannot be read completely raises
:class:`~schemas.errors.KubeError`, because a missing page would shrink the allow-list and let
cleanup delete an image still in use.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import ENV_KUBECONFIG_PATH_SEPARATOR, KubeConfigMerger
from pydantic import ValidationError

from schemas.errors import KubeError
from schemas.tables import KUBE_IMAGES_SCHEMA

DEFAULT_KUBECONFIG = "~/.kube/config"
WITHOUT_KUBE_HINT = "pass --without-kube to clean without the Kubernetes check"
SCOPE_OPTIONS = "--scan-context-namespace-only / --kube-scan-namespace NS"
RBAC_EXAMPLES = "deployments/rbac/"

#: the base64 kubeconfig, read here too: it is never a Prefect parameter
KUBE_CONFIG_BASE64_ENV = "STAGESWEEP_KUBE_CONFIG_BASE64"
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


def _job_finished(job: Any) -> bool:
    """A Job whose Complete or Failed condition is True runs nothing any more."""
    conditions = (job.status.conditions if job.status else None) or ()
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)


@dataclass(frozen=True)
class WorkloadKind:
    """How to list one kind and where its pod spec lives."""

    kind: str
    group: str  # API group ("" for the core group), as RBAC rules name it
    resource: str  # plural resource name, as RBAC rules name it
    api: Callable[[client.ApiClient], Any]  # API group class
    list_method: str  # its list_*_for_all_namespaces method
    namespaced_method: str  # its list_namespaced_* method
    pod_spec_path: tuple[str, ...]  # attributes from the item to its V1PodSpec
    skip: Callable[[Any], bool] | None = None  # items that use no image any more


_TEMPLATE = ("spec", "template", "spec")


def _kind(kind: str, group: str, resource: str, api: Any, method: str, path: tuple[str, ...], **kw: Any) -> WorkloadKind:
    return WorkloadKind(kind, group, resource, api, f"list_{method}_for_all_namespaces", f"list_namespaced_{method}", path, **kw)


WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    _kind("Pod", "", "pods", client.CoreV1Api, "pod", ("spec",)),
    _kind("ReplicationController", "", "replicationcontrollers", client.CoreV1Api, "replication_controller", _TEMPLATE),
    _kind("Deployment", "apps", "deployments", client.AppsV1Api, "deployment", _TEMPLATE),
    _kind("StatefulSet", "apps", "statefulsets", client.AppsV1Api, "stateful_set", _TEMPLATE),
    _kind("DaemonSet", "apps", "daemonsets", client.AppsV1Api, "daemon_set", _TEMPLATE),
    _kind("ReplicaSet", "apps", "replicasets", client.AppsV1Api, "replica_set", _TEMPLATE),
    _kind("CronJob", "batch", "cronjobs", client.BatchV1Api, "cron_job", ("spec", "job_template", "spec", "template", "spec")),
    _kind("Job", "batch", "jobs", client.BatchV1Api, "job", _TEMPLATE, skip=_job_finished),
)

#: what the scan needs to be allowed: the verb `list` on these resources, per API group
RBAC_VERBS = ("list",)

Row = tuple[str, str, str, str, str, str]  # context, namespace, kind, name, container, image


def rbac_resources() -> dict[str, set[str]]:
    """API group → the resources the scan lists (the rules its RBAC role needs, verb ``list``)."""
    out: dict[str, set[str]] = {}
    for kind in WORKLOAD_KINDS:
        out.setdefault(kind.group, set()).add(kind.resource)
    return out


# --------------------------------------------------------------------------- what was scanned


@dataclass(frozen=True)
class KubeScan:
    """The images workloads use and what was listed to find them."""

    images: pa.Table  # KUBE_IMAGES_SCHEMA
    source: str  # SOURCE_KUBECONFIG, SOURCE_KUBECONFIG_BASE64 or SOURCE_IN_CLUSTER
    kubeconfig: str | None  # the kubeconfig file(s) read, for SOURCE_KUBECONFIG
    scope: str  # SCOPE_ALL, SCOPE_CONTEXT_NAMESPACE or SCOPE_NAMESPACES
    namespaces: dict[str, list[str] | None]  # context → the namespaces listed (None: all namespaces)
    #: (context, namespace) listed where no workload uses an image: a misspelt namespace shows here
    empty: tuple[tuple[str, str], ...] = ()

    def scanned(self) -> dict[str, object]:
        """What "not used in Kubernetes" covered, for the audit's run metadata (no credential)."""
        return {
            "checked": True,
            "source": self.source,
            "kubeconfig": self.kubeconfig,
            "scope": self.scope,
            "contexts": [
                {"context": context, "all_namespaces": names is None, "namespaces": list(names or ())}
                for context, names in self.namespaces.items()
            ],
        }

    def describe(self) -> str:
        """One line: where from, and which contexts and namespaces."""
        where = {
            SOURCE_KUBECONFIG: f"kubeconfig {self.kubeconfig}",
            SOURCE_KUBECONFIG_BASE64: "the kubeconfig of --kube-config-base64",
            SOURCE_IN_CLUSTER: "the in-cluster service account",
        }[self.source]
        contexts = "; ".join(
            f"{context}: {'all namespaces' if names is None else 'namespace ' + ', '.join(names)}"
            for context, names in self.namespaces.items()
        )
        return f"{where} ({contexts})"


# --------------------------------------------------------------------------- where the clusters are


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
    encoded = options.kube_config_base64 or env.get(KUBE_CONFIG_BASE64_ENV)
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


def _api_client(source: KubeSource, context: str, options: KubeOptions) -> client.ApiClient:
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


# --------------------------------------------------------------------------- listing


def _pod_spec(item: Any, path: tuple[str, ...]) -> Any:
    node = item
    for attribute in path:
        node = getattr(node, attribute, None)
        if node is None:
            return None
    return node


def _images(context: str, kind: WorkloadKind, item: Any) -> Iterator[Row]:
    if kind.skip is not None and kind.skip(item):
        return
    spec = _pod_spec(item, kind.pod_spec_path)
    if spec is None:
        return
    meta = item.metadata
    namespace, name = (meta.namespace or "", meta.name or "") if meta else ("", "")
    for container in [*(spec.init_containers or ()), *(spec.containers or ())]:
        if container.image:
            yield (context, namespace, kind.kind, name, container.name or "", container.image)


def _in(namespace: str | None) -> str:
    return "in all namespaces" if namespace is None else f"in namespace {namespace!r}"


def _forbidden_hint(target: _Target, kind: WorkloadKind, namespace: str | None, options: KubeOptions) -> str:
    """What a 403 means and what to do. At cluster scope, whether the caller may list its own
    namespace is asked (a one-item list there): then the scope options are the way forward."""
    context = target.context
    if namespace is not None:
        return (
            f"the user of context {context!r} needs permission to list {kind.kind} in namespace {namespace!r} "
            f"(a Role and RoleBinding there granting list on {kind.resource}; examples in {RBAC_EXAMPLES})"
        )
    if _may_list(target, kind, target.own_namespace, options):
        return (
            f"the user of context {context!r} may not list {kind.kind} in all namespaces, but may list it in its "
            f"namespace {target.own_namespace!r}: pass --scan-context-namespace-only to scan only each context's "
            f"own namespace, or --kube-scan-namespace {target.own_namespace} (repeatable) to scan the namespaces you "
            "name; images used only in namespaces that are not scanned are then not protected. Or grant it "
            f"cluster-wide list (a ClusterRole; examples in {RBAC_EXAMPLES})"
        )
    return (
        f"the user of context {context!r} needs permission to list {kind.kind} in all namespaces (cluster-wide "
        f"list RBAC; examples in {RBAC_EXAMPLES}), or narrow the scan to namespaces it may list with {SCOPE_OPTIONS}"
    )


def _hint(status: int | None, target: _Target, kind: WorkloadKind, namespace: str | None, options: KubeOptions) -> str:
    context = target.context
    if status == 401:
        return f"the credentials of context {context!r} were refused; renew them (kubectl --context {context} get pods)"
    if status == 403:
        return _forbidden_hint(target, kind, namespace, options)
    if status == 404:
        return f"the API server of context {context!r} does not serve {kind.kind}; check the cluster version"
    if status == 410:
        return "the listing took longer than the server keeps a continue token; run again"
    return "try again later or check the API server; " + WITHOUT_KUBE_HINT


def _server_message(exc: ApiException) -> str:
    """The API server's own explanation (the ``message`` of its Status body), if any."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if isinstance(message, str) and message else ""


@dataclass(frozen=True)
class _Target:
    """One context to list, with its client."""

    context: str
    api_client: client.ApiClient
    own_namespace: str  # the context's namespace (what --scan-context-namespace-only lists)


def _list_call(target: _Target, kind: WorkloadKind, namespace: str | None) -> Callable[..., Any]:
    api = kind.api(target.api_client)
    if namespace is None:
        return getattr(api, kind.list_method)  # type: ignore[no-any-return]
    return functools.partial(getattr(api, kind.namespaced_method), namespace)


def _may_list(target: _Target, kind: WorkloadKind, namespace: str, options: KubeOptions) -> bool:
    """Whether one item of ``kind`` in ``namespace`` can be listed (nothing is read from it)."""
    try:
        _list_call(target, kind, namespace)(limit=1, _request_timeout=(options.connect_timeout, options.read_timeout))
    except (ApiException, urllib3.exceptions.HTTPError, OSError, ValidationError, ValueError):
        return False
    return True


def _unreachable(context: str, kind: WorkloadKind, server: str, reason: str) -> KubeError:
    return KubeError(
        f"Kubernetes context {context!r}: cannot reach the API server {server} while listing "
        f"{kind.kind} (no HTTP status): {reason}",
        context=context,
        kind=kind.kind,
        hint=f"check that {server} is reachable from here and its TLS settings in the kubeconfig, "
        f"select other contexts with --kube-context, or {WITHOUT_KUBE_HINT}",
    )


def _scopes(names: list[str] | None) -> list[str | None]:
    """The list calls of one context: one per namespace, or one at cluster scope (None)."""
    return [None] if names is None else list(names)


def _list_kind(target: _Target, namespace: str | None, kind: WorkloadKind, options: KubeOptions) -> list[Row]:
    method = _list_call(target, kind, namespace)
    context = target.context
    server = target.api_client.configuration.host
    where = "" if namespace is None else f" in namespace {namespace!r}"
    rows: list[Row] = []
    token: str | None = None
    while True:
        try:
            page = method(
                limit=options.page_size,
                _continue=token,
                _request_timeout=(options.connect_timeout, options.read_timeout),
            )
        except ApiException as exc:
            if not exc.status:  # the client reports TLS failures as status 0
                raise _unreachable(context, kind, server, str(exc.reason).replace("\n", ": ")) from exc
            raise KubeError(
                f"Kubernetes context {context!r}: listing {kind.kind}{where} failed with HTTP {exc.status} "
                f"({exc.reason}) at {server}{_server_message(exc)}",
                context=context,
                kind=kind.kind,
                status=exc.status,
                hint=_hint(exc.status, target, kind, namespace, options),
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _unreachable(context, kind, server, str(exc)) from exc
        except (ValidationError, ValueError) as exc:
            raise KubeError(
                f"Kubernetes context {context!r}: the {kind.kind} list{where} from {server} cannot be read: {exc}",
                context=context,
                kind=kind.kind,
                hint=_hint(None, target, kind, namespace, options),
            ) from exc
        for item in page.items or ():
            rows.extend(_images(context, kind, item))
        next_token = page.metadata.var_continue if page.metadata else None
        if not next_token:
            return rows
        if next_token == token:
            raise KubeError(
                f"Kubernetes context {context!r}: the {kind.kind} list{where} from {server} repeats its continue token",
                context=context,
                kind=kind.kind,
                hint=_hint(None, target, kind, namespace, options),
            )
        token = next_token


def scan_kube(options: KubeOptions | None = None, environ: Mapping[str, str] | None = None) -> KubeScan:
    """Every (context, namespace, kind, name, container, image) of the selected contexts and
    namespaces, as a ``KUBE_IMAGES_SCHEMA`` table sorted by those columns, and what was listed.

    Raises :class:`KubeError` if any (context, namespace scope, kind) cannot be listed completely.
    """
    options = options or KubeOptions()
    source = select_source(options, environ)
    contexts = select_contexts(source, options.contexts)
    scope, namespaces = select_namespaces(options, source, contexts)
    targets: dict[str, _Target] = {}
    try:
        for context in contexts:
            targets[context] = _Target(context, _api_client(source, context, options), source.namespaces[context])
        rows: list[Row] = []
        with ThreadPoolExecutor(max_workers=max(1, options.parallel), thread_name_prefix="kube-list") as pool:
            futures = [
                pool.submit(_list_kind, targets[context], namespace, kind, options)
                for context in contexts
                for namespace in _scopes(namespaces[context])
                for kind in WORKLOAD_KINDS
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                raise failed[0].exception()  # type: ignore[misc]
            for future in futures:
                rows.extend(future.result())
    finally:
        for target in targets.values():
            target.api_client.close()
    rows.sort()
    columns = list(zip(*rows)) if rows else [()] * len(KUBE_IMAGES_SCHEMA)
    table = pa.Table.from_arrays([pa.array(col, type=pa.string()) for col in columns], schema=KUBE_IMAGES_SCHEMA)
    used = {(row[0], row[1]) for row in rows}
    empty = tuple((c, n) for c in contexts for n in namespaces[c] or () if (c, n) not in used)
    return KubeScan(table, source.kind, source.kubeconfig, scope, namespaces, empty)


def list_kube_images(options: KubeOptions | None = None) -> pa.Table:
    """The images table of :func:`scan_kube`."""
    return scan_kube(options).images
