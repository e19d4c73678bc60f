"""A pure renderer for werf.yaml Go templates: text/template semantics, Sprig and werf's functions.

It is handed template texts, the project files (a :class:`FileSource`), an environment mapping
and werf's template data (``--env``, the commit); it does no I/O itself. It imports nothing of
the project but ``schemas.errors`` (its TemplateError is a ConfigError).
"""

from gotemplate.errors import TemplateError
from gotemplate.renderer import FUNCTIONS, MAIN_TEMPLATE, UNSUPPORTED, Rendered, Renderer, render
from gotemplate.source import Source
from gotemplate.werf import Commit, FileSource

__all__ = [
    "FUNCTIONS",
    "MAIN_TEMPLATE",
    "UNSUPPORTED",
    "Commit",
    "FileSource",
    "Rendered",
    "Renderer",
    "Source",
    "TemplateError",
    "render",
]
