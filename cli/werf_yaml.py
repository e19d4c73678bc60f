"""`stagesweep config render` and the werf.yaml reads of commands that are not flow runs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from adapters.werf_files import load_werf_config, render_werf_config
from schemas.config import WerfConfig
from schemas.settings import CommonSettings


def read_werf_yaml(settings: CommonSettings) -> WerfConfig:
    return load_werf_config(Path(settings.dir).expanduser(), Path(settings.config).expanduser(), dict(os.environ))


def print_rendered_config(directory: str, config: str) -> int:
    """Print werf.yaml as stagesweep reads it (rendered); the env variables it read go to stderr."""
    rendered = render_werf_config(Path(directory).expanduser(), Path(config).expanduser(), dict(os.environ))
    typer.echo(rendered.text, nl=not rendered.text.endswith("\n"))
    if rendered.env_names:
        typer.echo(f"# environment variables read: {', '.join(rendered.env_names)}", err=True)
    return 0
