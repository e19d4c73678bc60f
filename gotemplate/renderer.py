"""Render a werf.yaml template set: the main template, ``.werf/`` partials, ``.Files`` and the environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.gotemplate.builtins import BUILTINS
from schemas.gotemplate.errors import TemplateError
from schemas.gotemplate.evaluator import State
from schemas.gotemplate.funcs import FuncTable
from schemas.gotemplate.nodes import Tree, is_empty_tree
from schemas.gotemplate.parser import parse
from schemas.gotemplate.semver import SEMVER
from schemas.gotemplate.source import Source, SyntaxProblem
from schemas.gotemplate.sprig_collections import COLLECTIONS
from schemas.gotemplate.sprig_misc import MISC
from schemas.gotemplate.sprig_regex import REGEX
from schemas.gotemplate.sprig_strings import STRINGS
from schemas.gotemplate.werf import WERF, FileGlobber, FileReader, Files

MAIN_TEMPLATE = "werfConfig"  #: the name werf gives werf.yaml itself

FUNCTIONS: FuncTable = {**BUILTINS, **STRINGS, **COLLECTIONS, **MISC, **REGEX, **SEMVER, **WERF}

#: Sprig functions werf has that this renderer refuses: their output depends on the clock, on
#: randomness, on the network or on key material, or they are not implemented.
UNSUPPORTED: frozenset[str] = frozenset(
    {
        "now",
        "date",
        "dateInZone",
        "dateModify",
        "mustDateModify",
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
    """One werf.yaml template set. Does no I/O: files come from ``read_file``/``glob_files``."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        read_file: FileReader | None = None,
        glob_files: FileGlobber | None = None,
    ) -> None:
        self.environ = dict(environ or {})
        self.files = Files(read_file, glob_files)
        self.templates: dict[str, Tree] = {}
        self.env_names: set[str] = set()
        self._tpl_count = 0

    def add(self, source: Source) -> None:
        """Parse a template text; its defines join the set (a later non-empty define wins)."""
        for tree in parse_source(source):
            if tree.name in self.templates and is_empty_tree(tree.root):
                continue
            self.templates[tree.name] = tree

    def execute(self, name: str = MAIN_TEMPLATE) -> Rendered:
        tree = self.templates.get(name)
        if tree is None:
            raise TemplateError(f"template {name!r} not defined", function="template")
        state = State(self.templates, FUNCTIONS, tree, 0, self)
        text = state.run({"Files": self.files})
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


def parse_source(source: Source) -> list[Tree]:
    """Parse one source; syntax problems become TemplateErrors naming file, line and column."""
    try:
        return parse(source, FUNCTIONS)
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
            message = "function 'toYaml' not defined (werf provides fromYaml only)"
        raise TemplateError(message, file=source.file, line=line, column=column, function=problem.function) from None


def render(
    main: Source,
    partials: Sequence[Source] = (),
    *,
    environ: Mapping[str, str] | None = None,
    read_file: FileReader | None = None,
    glob_files: FileGlobber | None = None,
) -> Rendered:
    """Render ``main`` (werf.yaml) after loading ``partials`` (``.werf/**/*.tmpl``, in name order)."""
    renderer = Renderer(environ, read_file, glob_files)
    for partial in sorted(partials, key=lambda p: p.name):
        renderer.add(partial)
    renderer.add(Source(MAIN_TEMPLATE, main.text, main.file))
    return renderer.execute(MAIN_TEMPLATE)
