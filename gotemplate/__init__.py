"""A pure renderer for werf.yaml Go templates: text/template semantics, Sprig and werf's functions.

It is handed template texts, a file reader and an environment mapping; it does no I/O itself.
"""

from schemas.gotemplate.errors import TemplateError
from schemas.gotemplate.renderer import FUNCTIONS, MAIN_TEMPLATE, UNSUPPORTED, Rendered, Renderer, render
from schemas.gotemplate.source import Source

__all__ = ["FUNCTIONS", "MAIN_TEMPLATE", "UNSUPPORTED", "Rendered", "Renderer", "Source", "TemplateError", "render"]
