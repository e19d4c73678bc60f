"""The delete pre-flight: a registry that refuses deletes is found out before the first real one."""

from __future__ import annotations

import pytest

from adapters.registry import RegistryClient
from schemas.errors import RegistryAuthError, RegistryError

pytestmark = pytest.mark.registry


def test_delete_preflight_passes_on_a_registry_with_deletes_enabled(registry, unique_repo):
    RegistryClient(registry.options()).check_delete_permitted(registry.repo(unique_repo))


def test_delete_preflight_names_a_registry_with_deletes_disabled(registry, fault_proxy, unique_repo):
    fault_proxy.fail_deletes_matching(lambda path: True, status=405)
    with pytest.raises(RegistryError) as caught:
        RegistryClient(registry.options()).check_delete_permitted(fault_proxy.repo(unique_repo))
    assert caught.value.status == 405
    assert "does not allow deletes" in str(caught.value) and "storage.delete.enabled" in str(caught.value)


def test_delete_preflight_refuses_credentials_without_delete_rights(registry, fault_proxy, unique_repo):
    fault_proxy.fail_deletes_matching(lambda path: True, status=403)
    with pytest.raises(RegistryAuthError):
        RegistryClient(registry.options()).check_delete_permitted(fault_proxy.repo(unique_repo))
