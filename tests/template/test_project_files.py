"""werf.yaml read from a project directory: partials from .werf/, .Files relative to the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.werf_files import ProjectFiles, load_werf_config, render_werf_config
from schemas.errors import ConfigError
from schemas.gotemplate import TemplateError


def make_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_partials_are_named_by_their_path_inside_dot_werf(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "werf.yaml": '{{ include "meta.tmpl" . }}\n{{ range list "api" "web" }}---\n{{ include "images/image.tmpl" . }}\n{{ end }}',
            ".werf/meta.tmpl": "project: acme\nconfigVersion: 1\n",
            ".werf/images/image.tmpl": "image: {{ . }}\nfrom: alpine",
            ".werf/notes.txt": "{{ not a template file",
        },
    )
    config = load_werf_config(project, "werf.yaml", {})
    assert config.project == "acme"
    assert config.images == ("api", "web")


def test_render_gives_text_and_environment_names(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "werf.yaml": 'project: {{ env "PROJECT" }}\nconfigVersion: 1\nscript: {{ .Files.Get "ci/build.sh" | quote }}\n',
            "ci/build.sh": "make",
        },
    )
    rendered = render_werf_config(project, "werf.yaml", {"PROJECT": "acme", "OTHER": "x"})
    assert rendered.text == 'project: acme\nconfigVersion: 1\nscript: "make"\n'
    assert rendered.env_names == ("PROJECT",)
    assert rendered.file == str(project / "werf.yaml")


def test_missing_file_renders_empty_as_werf_v1_1(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"werf.yaml": 'x: "{{ .Files.Get "nope.txt" }}"\n'})
    assert render_werf_config(project).text == 'x: ""\n'


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/hostname", "a/../../outside.txt"])
def test_files_outside_the_project_are_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    project = make_project(tmp_path / "project", {"werf.yaml": f'x: {{{{ .Files.Get "{path}" }}}}\n'})
    with pytest.raises(TemplateError, match="Files.Get: .*(outside the project|absolute path)") as caught:
        render_werf_config(project)
    assert caught.value.line == 1


def test_symlink_leaving_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    project = make_project(tmp_path / "project", {"werf.yaml": 'x: {{ .Files.Get "link.txt" }}\n'})
    (project / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(TemplateError, match="outside the project"):
        render_werf_config(project)


def test_glob_maps_paths_to_contents_in_name_order(tmp_path: Path) -> None:
    files = ProjectFiles(make_project(tmp_path, {"s/b.sh": "B", "s/a.sh": "A", "s/x.txt": "X", "s/d/c.sh": "C"}))
    assert files.glob("s/*.sh") == {"s/a.sh": "A", "s/b.sh": "B"}
    assert list(files.glob("s/**/*.sh")) == ["s/a.sh", "s/b.sh", "s/d/c.sh"]
    with pytest.raises(ValueError, match="outside"):
        files.glob("../*")


def test_missing_config_names_file_and_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="werf.yaml: config file not found") as caught:
        render_werf_config(tmp_path)
    assert "--config" in str(caught.value)


def test_config_in_a_subdirectory_reads_files_next_to_it(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "deploy/werf.yaml": 'project: {{ .Files.Get "name.txt" | trim }}\nconfigVersion: 1\n',
            "deploy/name.txt": "acme\n",
        },
    )
    assert load_werf_config(project, "deploy/werf.yaml").project == "acme"
