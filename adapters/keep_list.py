"""werf v2's `--keep-list FILE`: one tag per line (a stage ID or a custom tag), blank lines and
`#` comments ignored; a line that is no valid docker tag is a usage error naming its line."""

from __future__ import annotations

from pathlib import Path

from adapters.storage.werf2_slug import is_valid_docker_tag
from schemas.errors import UsageError


def read_keep_list(path: str) -> list[str]:
    """The tags `path` lists, in file order, without duplicates."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--keep-list {path}: cannot read the file: {exc.strerror or exc}",
            hint="Pass a readable file with one tag per line.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--keep-list {path}: not UTF-8 text ({exc.reason})", hint="Pass a text file with one tag per line."
        ) from exc
    tags: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tag = line.split("#", 1)[0].strip()
        if not tag:
            continue
        if not is_valid_docker_tag(tag):
            raise UsageError(
                f"--keep-list {path}, line {number}: {tag!r} is not a valid docker tag",
                hint="Each line holds one tag (a stage ID or a custom tag): [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; "
                "# starts a comment.",
            )
        if tag not in tags:
            tags.append(tag)
    return tags
