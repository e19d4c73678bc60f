"""werf.yaml read from a project directory: partials from .werf/, .Files relative to the project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.werf_files import ProjectFiles, load_werf_config, render_werf_config
from cli.app import app
from gotemplate import TemplateError
from schemas.errors import ConfigError
from tests.template.conftest import call_goref


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


@pytest.mark.parametrize("path", ["../outside.txt", "/../outside.txt", "a/../../outside.txt"])
def test_files_outside_the_project_are_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    project = make_project(tmp_path / "project", {"werf.yaml": f'x: {{{{ .Files.Get "{path}" }}}}\n'})
    with pytest.raises(TemplateError, match="Files.Get: .*outside the project") as caught:
        render_werf_config(project)
    assert caught.value.line == 1


def test_leading_slash_is_joined_to_the_project_directory_as_werf_does(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "werf.yaml": 'a: {{ .Files.Get "/etc/name.txt" }}\nb: {{ keys (.Files.Glob "/etc/*.txt") | join "," }}\n',
            "etc/name.txt": "inside",
        },
    )
    assert render_werf_config(project).text == "a: inside\nb: etc/name.txt\n"


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


def test_glob_has_werf_braces_and_doublestar_and_skips_directories(tmp_path: Path) -> None:
    files = ProjectFiles(
        make_project(
            tmp_path,
            {
                "images/api/Dockerfile": "A",
                "images/api/werf.inc.yaml": "B",
                "images/web/werf.inc.yaml": "C",
                "images/web/notes.md": "D",
                "images/werf.inc.yaml": "E",
            },
        )
    )
    assert list(files.glob("images/*/{Dockerfile,werf.inc.yaml}")) == [
        "images/api/Dockerfile",
        "images/api/werf.inc.yaml",
        "images/web/werf.inc.yaml",
    ]
    assert list(files.glob("images/**/werf.inc.yaml")) == [
        "images/api/werf.inc.yaml",
        "images/web/werf.inc.yaml",
        "images/werf.inc.yaml",
    ]
    assert files.glob("images/*") == {"images/werf.inc.yaml": "E"}  # directories are not files
    assert files.glob("nowhere/*") == {}


def test_glob_reads_a_symlinked_file_and_skips_a_symlinked_directory(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"real/a.txt": "A"})
    (project / "link.txt").symlink_to(project / "real" / "a.txt")
    (project / "linkdir").symlink_to(project / "real")
    assert ProjectFiles(project).glob("*") == {"link.txt": "A"}


def test_malformed_glob_pattern_names_the_pattern(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"werf.yaml": 'x: {{ .Files.Glob "images/{a,b" }}\n'})
    with pytest.raises(TemplateError, match=r"Files.Glob: syntax error in pattern 'images/\{a,b'"):
        render_werf_config(project)


def test_files_exists_and_is_dir_as_werf_2(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "werf.yaml": '{{ .Files.Exists "oss.yaml" }} {{ .Files.Exists "images" }} {{ .Files.Exists "no" }} '
            '{{ .Files.IsDir "images" }} {{ .Files.IsDir "oss.yaml" }} {{ .Files.Exists "../outside" }}\n',
            "oss.yaml": "x",
            "images/a": "y",
        },
    )
    (tmp_path.parent / "outside").mkdir(exist_ok=True)
    assert render_werf_config(project).text == "true true false true false false\n"


def test_werf_yml_is_read_when_there_is_no_werf_yaml(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"werf.yml": "project: acme\nconfigVersion: 1\n"})
    assert load_werf_config(project).project == "acme"


def test_env_and_commit_are_werf_v1_2_template_data(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"werf.yaml": "env: {{ .Env }}\ncommit: {{ .Commit.Hash }} {{ .Commit.Date.Unix }}\n"})
    run = {"cwd": project, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run(["git", "add", "."], **run)
    when = {"GIT_COMMITTER_DATE": "2024-05-06T07:08:09+03:00", "GIT_AUTHOR_DATE": "2024-05-06T07:08:09+03:00"}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *identity, "commit", "-q", "-m", "c"], env={**os.environ, **when}, **run)
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    assert render_werf_config(project, werf_env="staging").text == f"env: staging\ncommit: {head} 1714968489\n"
    outside_git = make_project(tmp_path.parent / "plain", {"werf.yaml": "c: {{ .Commit }}\n"})
    assert render_werf_config(outside_git).text == "c: <no value>\n"  # as in werf v1.1


def test_config_render_prints_the_bytes_as_they_are_and_the_ignored_keys(tmp_path: Path) -> None:
    text = "project: acme\r\nconfigVersion: 1\r\nbuild:\r\n  platform: [linux/amd64]\r\n---\r\nimage: {{ .Env }}\r\n"
    project = tmp_path / "p"
    project.mkdir()
    (project / "werf.yaml").write_bytes(text.encode())
    result = CliRunner().invoke(app, ["config", "render", "--dir", str(project), "--env", "app"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == text.replace("{{ .Env }}", "app").encode()
    assert "# keys ignored by cleanup: build" in result.stderr


def test_partials_load_in_werf_walk_order_so_the_last_define_wins_as_in_go(tmp_path: Path, goref: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "werf.yaml": '{{ include "x" . }}|{{ include "a/b.tmpl" . }}\n',
            ".werf/a.tmpl": '{{ define "x" }}from a.tmpl{{ end }}',
            ".werf/a/b.tmpl": '{{ define "x" }}from a/b.tmpl{{ end }}b',
        },
    )
    go = call_goref(goref, {"projects": [{"name": "p", "dir": str(project), "env": {}}]})["results"][0]
    assert go["ok"], go["error"]
    assert render_werf_config(project).text == go["output"] == "from a.tmpl|b\n"
