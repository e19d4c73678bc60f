"""The RBAC manifests of deployments/rbac/ grant exactly what the scan uses: the verb `list` on
the resources of the kinds it lists, at cluster scope (ClusterRole) or in one namespace (Role),
each bound by a binding of its own file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.kube import RBAC_VERBS, rbac_resources

RBAC = Path(__file__).resolve().parents[2] / "deployments" / "rbac"
BINDING = {"ClusterRole": "ClusterRoleBinding", "Role": "RoleBinding"}


def documents(name: str) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((RBAC / name).read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs) == 2, f"{name}: one role and one binding"
    return by_kind


def granted(role: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert sorted(rule["verbs"]) == sorted(RBAC_VERBS), rule  # list, and nothing more
        assert "resourceNames" not in rule
        for group in rule["apiGroups"]:
            out.setdefault(group, set()).update(rule["resources"])
    return out


@pytest.mark.parametrize(("name", "role_kind"), [("cluster-wide.yaml", "ClusterRole"), ("namespace.yaml", "Role")])
def test_rbac_example_grants_list_on_exactly_the_kinds_the_scan_lists(name: str, role_kind: str) -> None:
    docs = documents(name)
    role, binding = docs[role_kind], docs[BINDING[role_kind]]

    assert granted(role) == rbac_resources()
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role["metadata"]["name"]}
    assert binding["subjects"]
    if role_kind == "Role":
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"]
    else:
        assert "namespace" not in role["metadata"]


def test_the_scan_lists_the_eight_kinds_of_the_spec() -> None:
    assert rbac_resources() == {
        "": {"pods", "replicationcontrollers"},
        "apps": {"deployments", "statefulsets", "daemonsets", "replicasets"},
        "batch": {"cronjobs", "jobs"},
    }
