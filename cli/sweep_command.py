"""The class of every `stagesweep` command: werf's way of writing options on the command line,
and a `--help` that a person can read in an 80-column terminal.

* Parsing: werf's booleans take a value after `=` (`--dry-run=false`, `--without-kube=true`,
  `--parallel=false`), never the next word; werf's boolean `--save-cleanup-report` is told from
  stagesweep's `--save-cleanup-report FILE` by what follows it. The option name each value was
  given under is kept for the run's metadata (`cli.options.option_sources`).
* Help: the options in their groups (`rich_help_panel`), each as werf's `--help` shows it — the
  names and the value on one line, the help below, then the environment variables and the
  default. No column is shared with the help text, so no option or variable name is ever cut.
"""

from __future__ import annotations

import inspect
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text
from typer._click import core as click  # Typer's own copy of click: its contexts and parameters
from typer.core import TyperArgument, TyperCommand, TyperOption

from cli import options as o
from cli import werf_options

#: the order of the groups; any other group follows, then werf's options
PANEL_ORDER = (
    "Arguments",
    o.STORAGE,
    o.GIT_PANEL,
    o.KUBE_PANEL,
    o.REGISTRY_PANEL,
    o.RUN_PANEL,
    o.HOST_PANEL,
    "Options",
)
#: werf booleans written without a value mean true
_VALUE_FLAGS = frozenset(op.param for op in werf_options.ALL if op.flag)


class SweepCommand(TyperCommand):
    """A Typer command with werf's option syntax and a help that never truncates a name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        by_name: dict[str, TyperOption] = {}
        for param in self.params:
            if isinstance(param, TyperOption):
                for name in param.opts + param.secondary_opts:
                    by_name[name] = param
        out: list[str] = []
        forced: dict[str, bool] = {}
        spelled: dict[str, str] = {}
        i = 0
        while i < len(args):
            word = args[i]
            i += 1
            if word == "--":
                out.extend(args[i - 1 :])
                break
            name, eq, value = word.partition("=") if word.startswith("-") else (word, "", "")
            param = by_name.get(name)
            if param is None or param.name is None:
                out.append(word)
                continue
            spelled[param.name] = name
            long = next((n for n in param.opts if n.startswith("--")), name)
            if param.is_flag and eq:
                if werf_options.go_bool(name, value):
                    out.append(name)
                else:
                    forced[param.name] = False
            elif eq and name != long:
                out.append(f"{long}={value}")  # werf's `-p=false`, `-S=:local`
            elif not eq and param.name in _VALUE_FLAGS:
                out.append(f"{long}=true")
            elif not eq and param.name == "save_cleanup_report" and (i >= len(args) or args[i].startswith("-")):
                out.append(f"{long}=true")  # werf's boolean form
            else:
                out.append(word)
        rest = super().parse_args(ctx, out)
        for name, value in forced.items():
            ctx.params[name] = value
            ctx.set_parameter_source(name, click.ParameterSource.COMMANDLINE)
        ctx.meta[o.SPELLINGS_KEY] = spelled
        return rest

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        console = Console(highlight=False, soft_wrap=False)
        console.print(Padding(Text(self.get_usage(ctx), style="bold"), (1, 1, 0, 1)))
        if self.help:
            console.print(
                Padding(Text(inspect.cleandoc(self.help).replace("\n\n", "\0").replace("\n", " ").replace("\0", "\n\n")), (1, 1))
            )
        panels: dict[str, list[RenderableType]] = {}
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            default_panel = "Arguments" if isinstance(param, TyperArgument) else "Options"
            panel = getattr(param, "rich_help_panel", None) or default_panel
            panels.setdefault(panel, []).extend(_entry(param, ctx))
        order = [p for p in PANEL_ORDER if p in panels]
        order += [p for p in panels if p not in PANEL_ORDER and p not in werf_options.PANELS]
        order += [p for p in werf_options.PANELS if p in panels]
        for name in order:
            console.print(Panel(Group(*panels[name]), title=name, title_align="left", border_style="dim"))
        if self.epilog:
            console.print(Padding(Text(inspect.cleandoc(self.epilog)), (1, 1)))


def _metavar(param: click.Parameter, ctx: click.Context) -> str:
    if getattr(param, "is_flag", False):
        return ""
    if param.name in _VALUE_FLAGS:
        return "[=true|false]"
    display = getattr(param, "display_type_rich", None)
    return str(display(ctx=ctx) or "") if display else ""


def _range(param: click.Parameter) -> str:
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def _entry(param: click.Parameter, ctx: click.Context) -> list[RenderableType]:
    """One option: its names and value, then (indented) its help, variables, default."""
    if isinstance(param, TyperArgument):
        names = str(param.name).upper()
    else:
        names = ", ".join(param.opts + param.secondary_opts)
    head = Text(names, style="bold cyan")
    meta = _metavar(param, ctx)
    if meta:
        head.append(" " + meta, style="yellow")
    if param.required:
        head.append(" (required)", style="red")
    body: list[RenderableType] = []
    help_text = getattr(param, "help", None)
    if help_text:
        body.append(Text(" ".join(help_text.split())))
    envvar = param.envvar
    if envvar and getattr(param, "show_envvar", True):
        names_ = [envvar] if isinstance(envvar, str) else list(envvar)
        body.append(Text("env: " + ", ".join(names_), style="dim yellow"))
    facts = []
    default = _default(param, ctx)
    if default:
        facts.append(f"default: {default}")
    bounds = _range(param)
    if bounds:
        facts.append(f"range: {bounds}")
    if facts:
        body.append(Text("; ".join(facts), style="dim"))
    return [head, Padding(Group(*body), (0, 0, 0, 4))] if body else [head]


def _default(param: click.Parameter, ctx: click.Context) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "show_default", None) is False:
        return ""
    value: Any = param.default
    if callable(value) or value in (None, "", [], ()):
        return ""
    return str(getattr(value, "value", value))


def use_everywhere(app: Any) -> None:
    """Make every command of a Typer app (and of its sub-apps) a `SweepCommand`; a class of
    the command's own stays."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = SweepCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_everywhere(group.typer_instance)
