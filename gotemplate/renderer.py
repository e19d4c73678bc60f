"""Render a werf.yaml template set: the main template, ``.werf/`` partials, ``.Files`` and the environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gotemplate.builtins import BUILTINS
from gotemplate.errors import TemplateError
from gotemplate.evaluator import State
from gotemplate.funcs import FuncTable
from gotemplate.nodes import Tree, is_empty_tree
from gotemplate.parser import parse
from gotemplate.semver import SEMVER
from gotemplate.source import Source, SyntaxProblem
from gotemplate.sprig_collections import COLLECTIONS
from gotemplate.sprig_misc import MISC
from gotemplate.sprig_regex import REGEX
from gotemplate.sprig_strings import STRINGS
from gotemplate.werf import WERF, WERF2, Commit, Files, FileSource

MAIN_TEMPLATE = "werfConfig"  #: the name werf gives werf.yaml itself

FUNCTIONS: FuncTable = {**BUILTINS, **STRINGS, **COLLECTIONS, **MISC, **REGEX, **SEMVER, **WERF}
FUNCTIONS_WERF2: FuncTable = {**FUNCTIONS, **WERF2}  #: werf 2.x's function map

#: Sprig functions werf has that this renderer refuses: their output depends on the clock, on
#: randomness, on the network or on key material, or they are not implemented.
UNSUPPORTED: frozenset[str] = frozenset(
    {
        "now",
        "date",
        "dateInZone",
        "date_in_zone",
        "dateModify",
        "date_modify",
        "mustDateModify",
        "must_date_modify",
        "toDate",
        "mustToDate",
        "ago",
        "duration",
        "durationRound",
        "htmlDate",
        "htmlDateInZone",
        "unixEpoch",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randBytes",
        "randInt",
        "randNumeric",
        "shuffle",
        "uuidv4",
        "bcrypt",
        "htpasswd",
        "derivePassword",
        "genPrivateKey",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "buildCustomCert",
        "encryptAES",
        "decryptAES",
        "getHostByName",
        "addf",
        "add1f",
        "subf",
        "mulf",
        "divf",
        "maxf",
        "minf",
        "urlParse",
        "urlJoin",
    }
)


@dataclass(frozen=True)
class Rendered:
    """The rendered text and the names of the environment variables the templates read (sorted)."""

    text: str
    env_names: tuple[str, ...]
    spans: tuple[tuple[int, Source, int, bool], ...] = ()

    def origin(self, line: int) -> tuple[str, int] | None:
        """The source file and line that produced a rendered line (1-based), when known."""
        lines = self.text.split("\n")
        if not 1 <= line <= len(lines) or not self.spans:
            return None
        offset = sum(len(x) + 1 for x in lines[: line - 1])
        # the first span covering any character of the line: prefer literal text on that line
        end = offset + len(lines[line - 1])
        chosen = None
        for start, source, pos, is_text in self.spans:
            if start > end:
                break
            chosen = (start, source, pos, is_text)
            if start >= offset and is_text:
                break
        if chosen is None:
            return None
        start, source, pos, is_text = chosen
        source_pos = pos + (max(offset, start) - start) if is_text else pos
        return source.file, source.line_column(source_pos)[0]


class Renderer:
    """One werf.yaml template set. Does no I/O: project files come from ``files``.

    The data is werf v1.1's (``.Files``) plus werf v1.2's ``.Env`` (werf's ``--env``) and
    ``.Commit`` when they are given; when not, they are missing keys as in werf v1.1.

    ``werf2`` renders as werf 2.x does: its functions (``toYaml``, ``*_debug``), ``.Env`` always
    set ("" when not given), ``.Files.Get`` of a missing file an error, ``.Files.Glob`` taking the
    files below what a pattern matches (werf 2.x's path matcher) and — unless
    ``loose_giterminism`` (werf's ``--loose-giterminism``) — ``env`` of an unset variable without
    a default an error.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        files: FileSource | None = None,
        *,
        werf_env: str | None = None,
        commit: Commit | None = None,
        werf2: bool = False,
        loose_giterminism: bool = False,
    ) -> None:
        self.environ = dict(environ or {})
        self.files = Files(files, werf2=werf2)
        self.werf_env = "" if werf2 and werf_env is None else werf_env
        self.commit = commit
        self.functions = FUNCTIONS_WERF2 if werf2 else FUNCTIONS
        self.env_must_be_set = werf2 and not loose_giterminism
        self.templates: dict[str, Tree] = {}
        self.env_names: set[str] = set()
        self._tpl_count = 0

    def data(self) -> dict[str, Any]:
        """The root value (``.``) werf.yaml is executed with."""
        data: dict[str, Any] = {"Files": self.files}
        if self.werf_env is not None:
            data["Env"] = self.werf_env
        if self.commit is not None:
            data["Commit"] = self.commit.as_data()
        return data

    def add(self, source: Source) -> None:
        """Parse a template text; its defines join the set (a later non-empty define wins)."""
        for tree in parse_source(source, self.functions):
            if tree.name in self.templates and is_empty_tree(tree.root):
                continue
            self.templates[tree.name] = tree

    def execute(self, name: str = MAIN_TEMPLATE) -> Rendered:
        tree = self.templates.get(name)
        if tree is None:
            raise TemplateError(f"template {name!r} not defined", function="template")
        state = State(self.templates, self.functions, tree, 0, self)
        text = state.run(self.data())
        return Rendered(text, tuple(sorted(self.env_names)), tuple(state.spans))

    # --- called by werf's functions -----------------------------------------------------------
    def lookup_env(self, name: str) -> str | None:
        self.env_names.add(name)
        return self.environ.get(name)

    def render_tpl(self, state: State, text: str, data: Any) -> str:
        self._tpl_count += 1
        line, column = state.tree.source.line_column(state.node.pos if state.node else 0)
        name = f"tpl-{self._tpl_count}"
        source = Source(name, text, f"{state.tree.source.file} (text given to tpl at line {line}, column {column})")
        self.add(source)
        return state.nested(self.templates[name], data)


def parse_source(source: Source, functions: FuncTable = FUNCTIONS) -> list[Tree]:
    """Parse one source; syntax problems become TemplateErrors naming file, line and column."""
    try:
        return parse(source, functions)
    except SyntaxProblem as problem:
        line, column = source.line_column(problem.pos)
        message = problem.message
        if problem.function in UNSUPPORTED:
            message = (
                f"function {problem.function!r} is not supported: stagesweep renders werf.yaml "
                "deterministically and without network, clock or randomness"
            )
        elif problem.function == "expandenv":
            message = "function 'expandenv' not defined (werf removes it; use env)"
        elif problem.function == "toYaml":
            message = (
                "function 'toYaml' not defined (werf v1.1 and v1.2 provide fromYaml only; werf 2.x's toYaml is read "
                "for a werf 2.x project: a --repo run)"
            )
        raise TemplateError(message, file=source.file, line=line, column=column, function=problem.function) from None


def render(
    main: Source,
    partials: Sequence[Source] = (),
    *,
    environ: Mapping[str, str] | None = None,
    files: FileSource | None = None,
    werf_env: str | None = None,
    commit: Commit | None = None,
    werf2: bool = False,
    loose_giterminism: bool = False,
) -> Rendered:
    """Render ``main`` (werf.yaml) after loading ``partials`` (``.werf/**/*.tmpl``) in the order
    given — werf's is that of a directory walk (``a/b.tmpl`` before ``a.tmpl``); a later
    non-empty ``define`` of a name wins. ``werf2`` and ``loose_giterminism``: see :class:`Renderer`."""
    renderer = Renderer(environ, files, werf_env=werf_env, commit=commit, werf2=werf2, loose_giterminism=loose_giterminism)
    for partial in partials:
        renderer.add(partial)
    renderer.add(Source(MAIN_TEMPLATE, main.text, main.file))
    return renderer.execute(MAIN_TEMPLATE)
