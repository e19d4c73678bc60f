"""Images used by Kubernetes workloads, read with the official ``kubernetes`` client (SPEC §6).

Where the clusters are and which contexts and namespaces are listed: :mod:`adapters.kube_access`.

Every selected (context × namespace scope) is listed for every workload kind in
``WORKLOAD_KINDS``, following ``continue`` pages to the end; the listings run concurrently. The
scan fails closed: any list that cannot be read completely raises
:class:`~schemas.errors.KubeError`, because a missing page would shrink the allow-list and let
cleanup delete an image still in use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from adapters.kube_access import (
    SOURCE_IN_CLUSTER,
    SOURCE_KUBECONFIG,
    SOURCE_KUBECONFIG_BASE64,
    WITHOUT_KUBE_HINT,
    KubeOptions,
    api_client,
    select_contexts,
    select_namespaces,
    select_source,
)
from schemas.errors import KubeError
from schemas.tables import KUBE_IMAGES_SCHEMA

__all__ = [
    "RBAC_VERBS",
    "WORKLOAD_KINDS",
    "KubeOptions",
    "KubeScan",
    "WorkloadKind",
    "list_kube_images",
    "rbac_resources",
    "scan_kube",
]

SCOPE_OPTIONS = "--scan-context-namespace-only / --kube-scan-namespace NS"
RBAC_EXAMPLES = "deployments/rbac/"


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
            targets[context] = _Target(context, api_client(source, context, options), source.namespaces[context])
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
