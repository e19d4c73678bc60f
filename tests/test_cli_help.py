"""`--help` read in an 80-column terminal: every command's options in their groups, and no option
or environment variable name ever cut."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app

WIDTH = 80


def _commands(group=None, path=()):
    """(path, click command) of every command and group of the CLI."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands())


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def _whole(name: str, text: str) -> bool:
    """`name` appears in `text` as a word of its own (not cut, not part of a longer name)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "stagesweep")
def test_help_at_80_columns_shows_every_option_and_variable_name_whole(path):
    text = _help(path)
    assert not re.search(r"…\s*│", text)  # no cell cut short
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    for param in COMMANDS[path].params:
        if getattr(param, "hidden", False):
            continue
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert _whole(name, text), f"{' '.join(path)}: option {name} is not shown whole"
        envvar = param.envvar
        for variable in [envvar] if isinstance(envvar, str) else list(envvar or ()):
            assert _whole(variable, text), f"{' '.join(path)}: variable {variable} is not shown whole"


def test_cleanup_help_groups_its_options_and_shows_werf_names():
    text = _help(("cleanup",))
    for group in ("Storage", "Git and werf.yaml", "Kubernetes", "Registry", "Run", "werf options"):
        assert re.search(rf"╭─ {re.escape(group)} ─", text), group
    for name in ("--repo-container-registry", "--scan-context-only", "--kube-scan-namespaces", "--cleanup-report-path"):
        assert _whole(name, text), name
    for variable in ("WERF_REPO", "WERF_ENV", "WERF_KUBE_CONFIG_BASE64", "WERF_SCAN_CONTEXT_NAMESPACE_ONLY"):
        assert _whole(variable, text), variable
    # the storage group comes before the run group
    assert text.index("╭─ Storage") < text.index("╭─ Run")


def test_the_werf_dropin_page_lists_every_werf_option_and_variable():
    from pathlib import Path

    from cli import werf_options

    page = (Path(__file__).resolve().parent.parent / "docs" / "werf-dropin.md").read_text()
    names = [n for o in werf_options.ALL for n in o.names if n.startswith("--")]
    names += [n for aliases in werf_options.ALIASES.values() for n in aliases]
    variables = [v for o in werf_options.ALL for v in o.envvars]
    variables += [v for vs in werf_options.WERF_ENV.values() for v in vs]
    missing = [n for n in names + variables if not _whole(n, page)]
    # the refused --final-repo-… twins are named once for all
    missing = [n for n in missing if not n.startswith("--final-repo-") or n == "--final-repo-container-registry"]
    assert not missing
