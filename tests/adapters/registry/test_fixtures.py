"""The registry fixtures fail loudly instead of skipping when the registry is not installed."""

from __future__ import annotations

import pytest

from tests.fixtures import registry as registry_fixtures


def test_missing_registry_binary_fails_with_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(registry_fixtures, "REGISTRY_BINARY", str(tmp_path / "docker-registry"))
    with pytest.raises(pytest.fail.Exception, match="apt-get install docker-registry"):
        registry_fixtures.require_registry_binary()


def test_each_test_gets_its_own_repository_name(unique_repo, request) -> None:
    assert unique_repo.startswith("tests/test-each-test-gets-its-own-repository-name-")
    assert unique_repo == unique_repo.lower()
