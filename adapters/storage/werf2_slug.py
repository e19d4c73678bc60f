"""werf 1.2 / 2.x names inside tags: image-name slugs, werf's ``LimitedSlug``, metadata ids.

Pure functions (no I/O), the helpers of :mod:`adapters.storage.werf2_codec` (SPEC §13.2). Each
one reproduces, byte for byte, what werf v2.77 writes, as read in werf's source:

* ``pkg/storage/repo_stages_storage.go`` — ``slugImageName`` / ``unslugImageName`` (the
  ``__space__``, ``__slash__``, ``__plus__``, ``__nameless__`` replacements), ``getManagedImageID``
  (the slug, passed through ``LimitedSlug`` with room ``128 - len("managed-image-")`` when it is
  not a valid docker tag), ``getImageMetadataID`` (MurmurHash3 of the name the managed-image id
  stands for), ``makeRepoCustomTagMetadataRecord`` (``LimitedSlug(tag, 48)``);
* ``pkg/storage/stages_storage.go`` — ``NamelessImageRecordTag``;
* ``cmd/werf/common/managed_images.go`` — ``~`` and ``__nameless__`` given by a user mean the
  nameless image;
* ``pkg/slug/slug.go`` — ``LimitedSlug``, ``IsValidDockerTag`` and the slugify rules; its test
  ``pkg/slug/slug_test.go`` supplies expected values used by our tests;
* ``github.com/werf/common-go`` ``pkg/util/hashsum.go`` — ``LegacyMurmurHash``: MurmurHash3 x86
  32-bit, seed 0, over the UTF-8 bytes, printed as lower-case hex without zero padding.

werf 2 does not restrict image-name characters (upper case, spaces, anything): names are taken as
given. Limitation: werf's slugify transliterates non-ASCII letters through a large table; only the
ASCII part of that table is implemented here (custom tags are docker tags, so ASCII by werf's own
check); text that would need transliteration raises ``ValueError`` (``InvalidImageName`` for an
image name) rather than produce a tag werf would not produce.
"""

from __future__ import annotations

import re

import mmh3

from schemas.errors import InvalidImageName

DOCKER_TAG_MAX_LENGTH = 128
MANAGED_IMAGE_PREFIX = "managed-image-"
CUSTOM_TAG_SLUG_MAX_LENGTH = 48
NAMELESS_SLUG = "__nameless__"
#: what users may type for the nameless image (werf's ``GetManagedImageName``)
NAMELESS_ALIASES = ("", "~", NAMELESS_SLUG)

# Order of werf's replacements; each token is distinct, so the order only matters for clarity.
_NAME_SLUGS = ((" ", "__space__"), ("/", "__slash__"), ("+", "__plus__"))

# Go's ``\w`` is ASCII-only: [0-9A-Za-z_].
_DOCKER_TAG_RE = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.-]*")
_SLUG_DASH_CHARS = frozenset("&(){}-_[],.;:=+<>~/ ")
_HEX_ID_RE = re.compile(r"0|[1-9a-f][0-9a-f]{0,7}")


# --------------------------------------------------------------------------- MurmurHash3


def murmur_id(text: str) -> str:
    """werf's ``LegacyMurmurHash`` of one string: MurmurHash3 x86 32-bit, seed 0, ``%x``."""
    return format(mmh3.hash(text.encode("utf-8"), 0, signed=False), "x")


def is_murmur_id(value: str) -> bool:
    """Whether ``value`` is how ``%x`` prints a uint32 (lower case, no leading zeros)."""
    return bool(_HEX_ID_RE.fullmatch(value))


# --------------------------------------------------------------------------- werf's slug


def is_valid_docker_tag(value: str) -> bool:
    """werf's ``IsValidDockerTag``: empty, or ``[\\w][\\w.-]*`` (ASCII) of at most 128 chars."""
    return value == "" or (len(value) <= DOCKER_TAG_MAX_LENGTH and bool(_DOCKER_TAG_RE.fullmatch(value)))


def _slug_char(char: str) -> str:
    if char.isascii():
        if char.isdigit() or ("a" <= char <= "z"):
            return char
        if "A" <= char <= "Z":
            return char.lower()
        return "-" if char in _SLUG_DASH_CHARS else ""
    raise ValueError(f"{char!r} would be transliterated by werf's slug; only ASCII is supported")


def slugify(text: str) -> str:
    """werf's slugify for ASCII text: lower-case letters and digits, separators become one ``-``.

    Letters are lower-cased, the separators ``& ( ) { } - _ [ ] , . ; : = + < > ~ /`` and space
    become ``-``, other ASCII characters are dropped; no leading, doubled or trailing ``-``.
    """
    out: list[str] = []
    last_was_dash = False
    for char in text:
        mapped = _slug_char(char)
        if not mapped:
            continue
        last_was_dash = mapped == "-"
        if last_was_dash and (not out or out[-1] == "-"):
            continue
        out.append(mapped)
    if out and last_was_dash:
        out.pop()
    return "".join(out)


def _should_be_slugged(text: str, max_size: int) -> bool:
    if not text:
        return False
    if slugify(text) == text and len(text) <= max_size:
        return False
    if len(text) > max_size:
        return True
    # werf keeps, for idempotence, an already slugged value whose crop left one "--".
    if text.count("--") != 1:
        return True
    once = text.replace("--", "-", 1)
    return slugify(once) != once


def _hashed_slug(text: str, max_size: int) -> str:
    digest = murmur_id(text)
    slugged = slugify(text)
    if not slugged:
        return digest
    head = slugged[: max(0, min(len(slugged), max_size - len(digest) - 1))]
    if head.startswith("-"):  # werf's legacy check (never true: slugify strips leading dashes)
        head = head[:-1]
    return f"{head}-{digest}"


def limited_slug(text: str, max_size: int) -> str:
    """werf's ``LimitedSlug``: ``text`` itself when already a short slug, else ``<slug>-<murmur>``."""
    if not _should_be_slugged(text, max_size):
        return text
    return _hashed_slug(text, max_size)


# --------------------------------------------------------------------------- image names


def normalize_image_name(name: str | None) -> str:
    """The canonical name: ``""`` for the nameless image (``None``, ``~``, ``__nameless__``)."""
    if name is None or name in NAMELESS_ALIASES:
        return ""
    return name


def display_image_name(name: str) -> str:
    return name if name else "~"


def slug_image_name(name: str | None) -> str:
    """werf 2's ``slugImageName``: `` ``/``/``/``+`` spelled out, nameless → ``__nameless__``."""
    canonical = normalize_image_name(name)
    if not canonical:
        return NAMELESS_SLUG
    for char, token in _NAME_SLUGS:
        canonical = canonical.replace(char, token)
    return canonical


def unslug_image_name(slug: str) -> str:
    """werf 2's ``unslugImageName`` (``""`` for the nameless image)."""
    name = slug
    for char, token in _NAME_SLUGS:
        name = name.replace(token, char)
    return "" if name == NAMELESS_SLUG else name


def managed_image_id(name: str | None) -> str:
    """The part of a ``managed-image-…`` tag that names the image (werf's ``getManagedImageID``)."""
    slug = slug_image_name(name)
    if is_valid_docker_tag(slug):
        return slug
    try:
        return limited_slug(slug, DOCKER_TAG_MAX_LENGTH - len(MANAGED_IMAGE_PREFIX))
    except ValueError as exc:
        raise InvalidImageName(
            f"image name {name!r} needs werf's transliteration of non-ASCII characters, which stagesweep does not do",
            hint="use an ASCII image name",
        ) from exc


def image_metadata_id(name: str | None) -> str:
    """The ``<id>`` of ``meta-<id>_<commit>_<stageID>``: MurmurHash3 of the managed image name.

    werf hashes the name its managed-image id stands for (``unslug(managed_image_id(name))``),
    which is the name itself unless the name had to be slugged; the nameless image hashes ``""``
    (id ``0``).
    """
    return murmur_id(unslug_image_name(managed_image_id(name)))


def custom_tag_id(tag: str) -> str:
    """The part of ``custom-tag-meta-…`` that names a custom tag: ``LimitedSlug(tag, 48)``."""
    return limited_slug(tag, CUSTOM_TAG_SLUG_MAX_LENGTH)
