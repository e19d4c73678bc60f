"""The whole differential corpus."""

from tests.template.cases import Case
from tests.template.corpus_extra import EXTRA
from tests.template.corpus_functions import FUNCTIONS
from tests.template.corpus_syntax import SYNTAX
from tests.template.corpus_werf import WERF

_SHARED_FILES = {"f.txt": "file content\n"}

CORPUS: list[Case] = [
    Case(c.name, c.template, c.partials, {**_SHARED_FILES, **c.files}, c.env) for c in SYNTAX + FUNCTIONS + EXTRA + WERF
]

assert len({c.name for c in CORPUS}) == len(CORPUS), "corpus names must be unique"
