"""Images used by Kubernetes workloads, read with the official ``kubernetes`` client (SPEC §6).

Every context of the kubeconfig (or the ones asked for) is listed for every workload kind
in ``WORKLOAD_KINDS``, across all namespaces, following ``continue`` pages to the end.
The (context × kind) listings run concurrently. The scan fails closed: any context or kind
that cannot be listed completely raises :class:`~schemas.errors.KubeError`, because a
missing page would shrink the allow-list and let cleanup delete an image still in use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
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


@dataclass(frozen=True)
class KubeOptions:
    """Where the clusters are and how to list them."""

    kube_config: str | None = None  # file (or ":"-separated list); None: $KUBECONFIG, else ~/.kube/config
    contexts: list[str] | None = None  # None or empty: every context of the kubeconfig
    parallel: int = 10  # concurrent list calls over all contexts and kinds
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
    api: Callable[[client.ApiClient], Any]  # API group class
    list_method: str  # its list_*_for_all_namespaces method
    pod_spec_path: tuple[str, ...]  # attributes from the item to its V1PodSpec
    skip: Callable[[Any], bool] | None = None  # items that use no image any more


_TEMPLATE = ("spec", "template", "spec")

WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("Pod", client.CoreV1Api, "list_pod_for_all_namespaces", ("spec",)),
    WorkloadKind("ReplicationController", client.CoreV1Api, "list_replication_controller_for_all_namespaces", _TEMPLATE),
    WorkloadKind("Deployment", client.AppsV1Api, "list_deployment_for_all_namespaces", _TEMPLATE),
    WorkloadKind("StatefulSet", client.AppsV1Api, "list_stateful_set_for_all_namespaces", _TEMPLATE),
    WorkloadKind("DaemonSet", client.AppsV1Api, "list_daemon_set_for_all_namespaces", _TEMPLATE),
    WorkloadKind("ReplicaSet", client.AppsV1Api, "list_replica_set_for_all_namespaces", _TEMPLATE),
    WorkloadKind(
        "CronJob",
        client.BatchV1Api,
        "list_cron_job_for_all_namespaces",
        ("spec", "job_template", "spec", "template", "spec"),
    ),
    WorkloadKind("Job", client.BatchV1Api, "list_job_for_all_namespaces", _TEMPLATE, skip=_job_finished),
)

Row = tuple[str, str, str, str, str, str]  # context, namespace, kind, name, container, image


# --------------------------------------------------------------------------- kubeconfig


def kubeconfig_paths(kube_config: str | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """The kubeconfig files to merge, in order: ``kube_config``, else ``$KUBECONFIG``
    (a ``:``-separated list), else ``~/.kube/config``. Files may not exist."""
    env = os.environ if environ is None else environ
    source = kube_config or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return [os.path.expanduser(p) for p in source.split(ENV_KUBECONFIG_PATH_SEPARATOR) if p]


def _existing_kubeconfig(options: KubeOptions) -> str:
    paths = kubeconfig_paths(options.kube_config)
    existing = [p for p in paths if os.path.isfile(p)]
    if not existing:
        where = ", ".join(paths) or DEFAULT_KUBECONFIG
        raise KubeError(
            f"no kubeconfig found at {where}; {WITHOUT_KUBE_HINT}",
            hint="or point --kube-config (or KUBECONFIG) at the kubeconfig of the clusters that run these images",
        )
    return ENV_KUBECONFIG_PATH_SEPARATOR.join(existing)


def select_contexts(options: KubeOptions) -> tuple[str, list[str]]:
    """(merged kubeconfig list, contexts to scan). Unknown names are an error listing the known ones."""
    merged = _existing_kubeconfig(options)
    try:
        # The merger, not list_kube_config_contexts: that one fails without a current-context.
        merger = KubeConfigMerger(merged)
        known = [str(c.value["name"]) for c in merger.config.value.get("contexts") or ()] if merger.config else []
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise KubeError(
            f"cannot read kubeconfig {merged}: {exc}",
            hint="fix the file (kubectl config view shows what is wrong) or " + WITHOUT_KUBE_HINT,
        ) from exc
    if not known:
        raise KubeError(f"kubeconfig {merged} defines no contexts", hint=WITHOUT_KUBE_HINT)
    if not options.contexts:
        return merged, known
    unknown = [c for c in options.contexts if c not in known]
    if unknown:
        raise KubeError(
            f"unknown Kubernetes context {', '.join(map(repr, unknown))} in {merged}; known contexts: {', '.join(known)}",
            context=unknown[0],
            hint="pass one of the known contexts to --kube-context",
        )
    return merged, list(dict.fromkeys(options.contexts))


def _api_client(merged: str, context: str, options: KubeOptions) -> client.ApiClient:
    """One client per context: its server, TLS and credentials (token, client certificate,
    exec or auth-provider plugin). No urllib3 retries: a dead server fails fast."""
    configuration = client.Configuration()
    configuration.retries = False
    configuration.connection_pool_maxsize = max(1, options.parallel)
    try:
        return config.new_client_from_config(
            config_file=merged, context=context, persist_config=False, client_configuration=configuration
        )
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise KubeError(
            f"cannot load the credentials of Kubernetes context {context!r} from {merged}: {exc}",
            context=context,
            hint=f"check the context's user entry (kubectl --context {context} get pods) or " + WITHOUT_KUBE_HINT,
        ) from exc


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


def _hint(status: int | None, context: str, kind: str) -> str:
    if status == 401:
        return f"the credentials of context {context!r} were refused; renew them (kubectl --context {context} get pods)"
    if status == 403:
        return f"the user of context {context!r} needs permission to list {kind} in all namespaces (cluster-wide list RBAC)"
    if status == 404:
        return f"the API server of context {context!r} does not serve {kind}; check the cluster version"
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


def _unreachable(context: str, kind: WorkloadKind, server: str, reason: str) -> KubeError:
    return KubeError(
        f"Kubernetes context {context!r}: cannot reach the API server {server} while listing "
        f"{kind.kind} (no HTTP status): {reason}",
        context=context,
        kind=kind.kind,
        hint=f"check that {server} is reachable from here and its TLS settings in the kubeconfig, "
        f"select other contexts with --kube-context, or {WITHOUT_KUBE_HINT}",
    )


def _list_kind(api_client: client.ApiClient, context: str, kind: WorkloadKind, options: KubeOptions) -> list[Row]:
    method = getattr(kind.api(api_client), kind.list_method)
    server = api_client.configuration.host
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
                f"Kubernetes context {context!r}: listing {kind.kind} failed with HTTP {exc.status} "
                f"({exc.reason}) at {server}{_server_message(exc)}",
                context=context,
                kind=kind.kind,
                status=exc.status,
                hint=_hint(exc.status, context, kind.kind),
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _unreachable(context, kind, server, str(exc)) from exc
        except (ValidationError, ValueError) as exc:
            raise KubeError(
                f"Kubernetes context {context!r}: the {kind.kind} list from {server} cannot be read: {exc}",
                context=context,
                kind=kind.kind,
                hint=_hint(None, context, kind.kind),
            ) from exc
        for item in page.items or ():
            rows.extend(_images(context, kind, item))
        next_token = page.metadata.var_continue if page.metadata else None
        if not next_token:
            return rows
        if next_token == token:
            raise KubeError(
                f"Kubernetes context {context!r}: the {kind.kind} list from {server} repeats its continue token",
                context=context,
                kind=kind.kind,
                hint=_hint(None, context, kind.kind),
            )
        token = next_token


def list_kube_images(options: KubeOptions | None = None) -> pa.Table:
    """Every (context, namespace, kind, name, container, image) of the selected contexts,
    as a ``KUBE_IMAGES_SCHEMA`` table sorted by those columns.

    Raises :class:`KubeError` if any context or kind cannot be listed completely.
    """
    options = options or KubeOptions()
    merged, contexts = select_contexts(options)
    clients: dict[str, client.ApiClient] = {}
    try:
        for context in contexts:
            clients[context] = _api_client(merged, context, options)
        rows: list[Row] = []
        with ThreadPoolExecutor(max_workers=max(1, options.parallel), thread_name_prefix="kube-list") as pool:
            futures = [
                pool.submit(_list_kind, clients[context], context, kind, options)
                for context in contexts
                for kind in WORKLOAD_KINDS
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                raise failed[0].exception()
            for future in futures:
                rows.extend(future.result())
    finally:
        for api_client in clients.values():
            api_client.close()
    rows.sort()
    columns = list(zip(*rows)) if rows else [()] * len(KUBE_IMAGES_SCHEMA)
    return pa.Table.from_arrays([pa.array(col, type=pa.string()) for col in columns], schema=KUBE_IMAGES_SCHEMA)
