"""The whole differential corpus."""

from tests.template.cases import Case
from tests.template.corpus_extra import EXTRA
from tests.template.corpus_functions import FUNCTIONS
from tests.template.corpus_syntax import SYNTAX
from tests.template.corpus_werf import WERF
from tests.template.corpus_werf2 import WERF2
from tests.template.corpus_werf_v1_2 import V1_2

_SHARED_FILES = {"f.txt": "file content\n"}

CORPUS: list[Case] = [
    Case(c.name, c.template, c.partials, {**_SHARED_FILES, **c.files}, c.env, c.werf_env, c.commit, c.werf2, c.loose)
    for c in SYNTAX + FUNCTIONS + EXTRA + WERF + V1_2 + WERF2
]

assert len({c.name for c in CORPUS}) == len(CORPUS), "corpus names must be unique"
