"""`stagesweep config render` and the werf.yaml reads of commands that are not flow runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from adapters.werf_files import load_werf_config, render_werf_config
from schemas.config import WerfConfig, validate_rendered_config
from schemas.settings import CommonSettings


def read_werf_yaml(settings: CommonSettings) -> WerfConfig:
    directory, config = Path(settings.dir).expanduser(), Path(settings.config).expanduser()
    return load_werf_config(directory, config, dict(os.environ), settings.env, werf2=settings.werf2)


def print_rendered_config(directory: str, config: str, env: str = "", werf2: bool = False) -> int:
    """Print werf.yaml as stagesweep reads it (rendered, its bytes as they are); the env variables
    it read and the keys cleanup ignores go to stderr. A file that renders but that cleanup
    cannot read is printed, then its error raised. ``werf2``: as read for a ``--repo`` run (werf
    2.x's rules), else for werf v1.1's storages."""
    rendered = render_werf_config(Path(directory).expanduser(), Path(config).expanduser(), dict(os.environ), env, werf2=werf2)
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:  # the bytes as they are: no newline added, none translated, nothing stripped
        sys.stdout.flush()
        out.write(rendered.text.encode("utf-8", "surrogateescape"))
        out.flush()
    else:
        typer.echo(rendered.text, nl=False)
    if rendered.env_names:
        typer.echo(f"# environment variables read: {', '.join(rendered.env_names)}", err=True)
    werf = validate_rendered_config(rendered, werf2=werf2)
    if werf.ignored_keys:
        typer.echo(f"# keys ignored by cleanup: {', '.join(werf.ignored_keys)}", err=True)
    return 0
