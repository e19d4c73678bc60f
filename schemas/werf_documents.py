"""werf.yaml documents: the rendered text split the way werf splits it, each parsed with its lines.

werf renders the whole file first, then splits on ``---`` lines (optionally followed by spaces and a
``# comment``), drops empty sections and reads each section strictly: a key given twice is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from gotemplate.goyaml import GoYamlLoader

_SEPARATOR = re.compile(r"---[ \t\r]*(?:#.*)?")


@dataclass(frozen=True)
class Document:
    """One ``---`` section: its number (1-based, counting every section), first line and text."""

    number: int
    line: int
    text: str

    @property
    def is_empty(self) -> bool:
        """Only blank lines and comments (werf skips such sections)."""
        return all(not ln.strip(" \t\r") or ln.lstrip(" \t\r").startswith("#") for ln in self.text.split("\n"))


def split_documents(text: str) -> list[Document]:
    """Split rendered werf.yaml text on separator lines, keeping each section's first line number."""
    documents: list[Document] = []
    current: list[str] = []
    start = 1
    lines = text.split("\n")
    for index, line in enumerate(lines, start=1):
        if _SEPARATOR.fullmatch(line):
            documents.append(Document(len(documents) + 1, start, "\n".join(current) + ("\n" if current else "")))
            current = []
            start = index + 1
        else:
            current.append(line)
    if current and not (len(current) == 1 and current[0] == ""):
        documents.append(Document(len(documents) + 1, start, "\n".join(current)))
    return documents


class DocumentProblem(Exception):
    """A section cannot be read: ``line`` is the 1-based line in the rendered text."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictLoader(GoYamlLoader):
    """yaml.v2's reading (:mod:`gotemplate.goyaml`: tabs, implicit types) that refuses a key given
    twice in one mapping (werf reads sections with ``yaml.UnmarshalStrict``)."""

    line_offset = 0  #: the section's first line in the rendered text, minus one

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise DocumentProblem(
                        f"invalid YAML: key {key!r} is given twice (first at line {seen[key] + 1 + self.line_offset})",
                        key_node.start_mark.line + 1,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class ParsedDocument:
    document: Document
    data: Any
    key_lines: dict[str, int]  #: top-level key → 1-based line in the rendered text

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.document.line)


def parse_document(document: Document) -> ParsedDocument:
    """Parse one section; problems carry the line in the rendered text."""
    loader = _StrictLoader(document.text)
    loader.line_offset = document.line - 1
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except DocumentProblem as problem:
        raise DocumentProblem(problem.message, (problem.line or 1) + document.line - 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        raise DocumentProblem(f"invalid YAML: {what}", mark.line + document.line if mark else None) from None
    finally:
        loader.dispose()
    key_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key_lines[str(key_node.value)] = key_node.start_mark.line + document.line
    return ParsedDocument(document, data, key_lines)


#: keys that make a section an image, an artifact or a Dockerfile image
IMAGE_MARKERS = ("image", "artifact", "dockerfile")
