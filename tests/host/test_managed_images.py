"""`managed-images ls|add|rm` through the CLI on a registry, an OCI layout and `:local`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from adapters.audit import read_audit
from cli.app import app

BACKENDS = [
    pytest.param("registry", marks=pytest.mark.registry),
    "oci",
    pytest.param("local", marks=pytest.mark.docker),
]


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path, monkeypatch) -> list[str]:
    """CLI options that reach a stages storage of the parametrised kind, with a werf.yaml."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "werf.yaml").write_text("project: acme\nconfigVersion: 1\n---\nimage: app\n")
    common = ["--dir", str(project)]
    if request.param == "registry":
        server = request.getfixturevalue("registry")
        unique = request.getfixturevalue("unique_repo")
        return ["--stages-storage", server.repo(f"{unique}/stages"), "--insecure-registry", *common]
    if request.param == "oci":
        return ["--stages-storage", f"oci:{tmp_path}/stages", *common]
    host = request.getfixturevalue("host")  # a private daemon, emptied for this test
    monkeypatch.setenv("DOCKER_HOST", host.address)
    return ["--stages-storage", ":local", *common]


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def text(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


def ls(storage: list[str]) -> list[str]:
    result = run_cli("managed-images", "ls", *storage)
    assert result.exit_code == 0, text(result)
    return result.stdout.splitlines()


@pytest.mark.prefect
def test_managed_images_round_trip_through_the_cli(storage, prefect_api, tmp_path) -> None:
    audit = ["--audit-dir", str(tmp_path / "audit")]
    for name in ("app", "~", "web/api", "app"):
        added = run_cli("managed-images", "add", name, *storage)
        assert added.exit_code == 0, text(added)
    assert "app is already a managed image" in added.stdout
    assert ls(storage) == ["~", "app", "web/api"]

    dry = run_cli("managed-images", "rm", "app", "~", "--dry-run", *audit, *storage)
    assert dry.exit_code == 0, text(dry)
    assert ls(storage) == ["~", "app", "web/api"]

    removed = run_cli("managed-images", "rm", "app", "~", *audit, *storage)
    assert removed.exit_code == 0, text(removed)
    assert ls(storage) == ["web/api"]
    rows = read_audit(tmp_path / "audit").to_pylist()
    decided = sorted((r["dry_run"], r["image_name"], r["outcome"]) for r in rows)
    assert decided == [
        (False, "app", "deleted"),
        (False, "~", "deleted"),
        (True, "app", "would-delete"),
        (True, "~", "would-delete"),
    ]
    assert {(r["command"], r["item_type"], r["reason"], r["project"]) for r in rows} == {
        ("managed-images-rm", "managed-image", "purge", "acme")
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("App", "invalid image name 'App': image names must not contain upper-case letters"),
        ("bad name!", "invalid image name 'bad name!': use lower-case letters, digits and . _ - + /"),
    ],
)
def test_adding_an_invalid_image_name_fails_with_a_clear_error(tmp_path, name, message) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "werf.yaml").write_text("project: acme\nconfigVersion: 1\n")
    storage = ["--stages-storage", f"oci:{tmp_path}/stages", "--dir", str(project)]

    result = run_cli("managed-images", "add", name, *storage)

    assert result.exit_code == 1
    assert message in text(result)
    assert ls(storage) == []


@pytest.mark.prefect
def test_removing_an_invalid_image_name_stops_before_deleting_and_writes_an_empty_audit(prefect_api, tmp_path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "werf.yaml").write_text("project: acme\nconfigVersion: 1\n")
    storage = ["--stages-storage", f"oci:{tmp_path}/stages", "--dir", str(project)]
    assert run_cli("managed-images", "add", "app", *storage).exit_code == 0

    result = run_cli("managed-images", "rm", "app", "App", "--audit-dir", str(tmp_path / "audit"), *storage)

    assert result.exit_code == 1
    assert "upper-case" in text(result)
    assert ls(storage) == ["app"]
    assert read_audit(tmp_path / "audit").num_rows == 0


def test_listing_without_a_werf_yaml_names_the_missing_file(tmp_path) -> None:
    result = run_cli("managed-images", "ls", "--stages-storage", f"oci:{tmp_path}/stages", "--dir", str(tmp_path))

    assert result.exit_code == 1
    assert f"{tmp_path}/werf.yaml: config file not found" in text(result)
