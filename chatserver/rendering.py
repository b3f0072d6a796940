"""Render user-written Markdown into sanitised HTML and plain-text previews.

The pipeline is, in order:

1. Normalise the source: unify line endings, drop NUL and other C0 control characters and the
   bidirectional override/isolate characters (U+202A-U+202E, U+2066-U+2069) that can make text
   display differently from what it is ("Trojan Source" tricks).
2. Cap the length *before* parsing: Python-Markdown has super-linear inputs, so an unbounded
   source is a denial-of-service vector. Over-long input raises :class:`ContentTooLong`.
   The cap alone is not enough: upstream link and code-span parsing and bleach's URL and
   e-mail patterns are quadratic or worse (up to 15 s for 10 kB), so those parts are replaced
   by linear-time equivalents below; the worst input found renders 10 kB in about 0.5 s.
3. Convert Markdown to HTML with Python-Markdown with raw HTML disabled (see
   :class:`EscapeRawHtmlExtension` for why it is done this way).
4. Sanitise the HTML with ``bleach`` against an explicit allowlist of tags, attributes and URL
   schemes, linkify bare URLs, and force ``rel="nofollow noopener noreferrer"`` on every link.

Step 4 is the security boundary; step 3 only makes sure that HTML a person types is *shown* as
text instead of being silently stripped, and that Markdown never emits markup bleach would have
to remove.

The module reads no Django settings and has no Django imports, so it can be imported anywhere
(migrations, workers, tests without settings). Callers pass limits explicitly.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from functools import partial
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import bleach
import markdown
from bleach.linkifier import LinkifyFilter
from markdown.blockprocessors import HashHeaderProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import (
    BACKTICK_RE,
    IMAGE_LINK_RE,
    IMAGE_REFERENCE_RE,
    LINK_RE,
    REFERENCE_RE,
    BacktickInlineProcessor,
    LinkInlineProcessor,
    ReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
)

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_PROTOCOLS",
    "ALLOWED_TAGS",
    "LINK_REL",
    "RENDER_VERSION",
    "ContentTooLong",
    "render_markdown",
    "render_plain_preview",
]

# Bump whenever the output for the same source may change, so stored HTML can be re-rendered.
RENDER_VERSION: int = 1

DEFAULT_MAX_LENGTH: int = 10_000

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p",
        "br",
        "strong",
        "em",
        "b",
        "i",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "del",
        "span",
    }
)

# Documentation of the attribute policy; the enforcement is _allow_attribute below, which also
# constrains the *value* of code[class]. ``rel`` is not accepted from input: it is set by us.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "code": frozenset({"class"}),
}

ALLOWED_PROTOCOLS: frozenset[str] = frozenset({"http", "https", "mailto"})

LINK_REL: str = "nofollow noopener noreferrer"

_CODE_CLASS_RE = re.compile(r"language-[a-z0-9+-]+")

# Bidi embedding/override (U+202A-U+202E) and isolate (U+2066-U+2069) controls, NUL and the other
# C0 controls except tab and newline. Python-Markdown also uses STX/ETX as internal placeholder
# markers, so removing them here keeps user text from ever looking like a placeholder.
_DANGEROUS_CHARS_RE = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


_WHITESPACE_RE = re.compile(r"\s+")

_BRACKET_RE = re.compile(r"[\[\]]")

_TICKS_RE = re.compile(r"`+")

# Longest target accepted in [text](target) syntax; bare URLs of any length are still linked.
_MAX_LINK_TARGET = 1024

# Bare URLs to turn into links. bleach's default pattern backtracks catastrophically on input
# such as "a.-" repeated (13 s for 10 kB), so use a linear one: a match must start with an
# explicit scheme or "www." (not inside a word, path or address) and runs to the next space or
# quote. Its last character may not be punctuation, so "see https://x.org!" does not link the
# "!"; bleach's linkifier then trims a ")" that has no "(" in the URL.
_URL_RE = re.compile(
    r"""(?<![\w@/.:-])(?:https?://|www\.)[^\s<>"'`]*[^\s<>"'`.,;:!?]""",
    re.IGNORECASE,
)


class ContentTooLong(ValueError):
    """Signal that the Markdown source exceeds the permitted length."""

    def __init__(self, length: int, max_length: int) -> None:
        """Record the offending and the permitted length."""
        super().__init__(f"content is {length} characters long; the limit is {max_length}")
        self.length = length
        self.max_length = max_length

    def __reduce__(self) -> tuple[type[ContentTooLong], tuple[int, int]]:
        """Pickle with the constructor's arguments rather than the message."""
        return (type(self), (self.length, self.max_length))


class _ChatHashHeaderProcessor(HashHeaderProcessor):
    """Recognise ``# Heading`` only when a space follows the hashes.

    Python-Markdown treats ``#general`` at the start of a line as a heading; in a chat that is
    almost always a hashtag or a room name, so require the CommonMark-style space.
    """

    RE = re.compile(
        r"(?:^|\n)(?P<level>#{1,6})[ \t]+(?P<header>(?:\\.|[^\\#]|#+(?=[^#\n]))*?)#*(?:\n|$)"
    )


class _LinearLinkMixin(LinkInlineProcessor):
    """Find the ``]`` closing a link's text in linear instead of quadratic total time.

    Python-Markdown scans forward from every ``[`` to its matching ``]``; on input such as
    ten thousand ``[`` that is one full scan per bracket (about 15 s for 10 kB). Matching all
    brackets of the text once with a stack gives the same answer, because the partner of the
    ``[`` at ``p`` depends only on ``text[p:]``. Partners are stored as distances from the end,
    so they stay valid while earlier matches are replaced by placeholders.
    """

    _bracket_text: str = ""
    _bracket_partner: dict[int, int]

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:  # Markdown's name.
        """Return the link text starting at ``index``, its end and whether it closed."""
        opening = index - 1
        if opening < 0 or data[opening] != "[":
            return super().getText(data, index)
        suffix = data[opening:]
        if not self._bracket_text.endswith(suffix):
            self._match_brackets(data)
        close_distance = self._bracket_partner.get(len(suffix))
        if close_distance is None:
            # Callers ignore the text when the bracket does not close.
            return "", index, False
        close = len(data) - close_distance
        return data[index:close], close + 1, True

    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:  # Markdown's.
        """Parse a link target, looking at most ``_MAX_LINK_TARGET`` characters ahead."""
        # The target scan is a character loop from every "[...](" to the closing ")"; bounding
        # it keeps input such as "[](" repeated from costing a full scan per occurrence.
        window = data[: index + _MAX_LINK_TARGET]
        if window.find(")", index) == -1:
            # No ")" at all means the target cannot close; skip the character loop.
            return "", None, index, False
        return super().getLink(window, index)

    def _match_brackets(self, data: str) -> None:
        """Pair every ``[`` in ``data`` with its closing ``]``."""
        length = len(data)
        partner: dict[int, int] = {}
        open_positions: list[int] = []
        for match in _BRACKET_RE.finditer(data):
            if match.group() == "[":
                open_positions.append(match.start())
            elif open_positions:
                partner[length - open_positions.pop()] = length - match.start()
        self._bracket_text = data
        self._bracket_partner = partner


class _LinkProcessor(_LinearLinkMixin):
    """Parse ``[text](target)`` (and ``![text](target)``) in linear time."""


class _ReferenceProcessor(_LinearLinkMixin, ReferenceInlineProcessor):
    """Parse ``[text][id]`` (and ``![text][id]``) in linear time."""


class _ShortReferenceProcessor(_LinearLinkMixin, ShortReferenceInlineProcessor):
    """Parse ``[id]`` (and ``![id]``) in linear time."""


class _LinearBacktickProcessor(BacktickInlineProcessor):
    """Find the backticks closing a code span in linear instead of quadratic total time.

    Python-Markdown scans from every opening run of backticks to the end of the text looking
    for a closing run of the same length; input such as ``"```\\"`` repeated costs a full scan
    per run (about 1 s for 10 kB). Indexing the runs once gives the same answer with a binary
    search. As in :class:`_LinearLinkMixin`, the index is checked against the text's suffix, so
    it survives earlier code spans being replaced by placeholders.
    """

    def __init__(self, pattern: str) -> None:
        """Start with the index of an empty text."""
        super().__init__(pattern)
        self._index_ticks("")

    def find_code_spans(self, start: int, text: str) -> tuple[int, int | None]:
        """Return where the code span opened at ``start`` begins and ends, like upstream."""
        opening = _TICKS_RE.match(text, start)
        max_ticks = opening.end() - start if opening else 0
        start += max_ticks
        if not self._tick_text.endswith(text[start:]):
            self._index_ticks(text)
        shift = len(self._tick_text) - len(text)
        first = bisect_left(self._tick_starts, start + shift)
        same_length = self._tick_runs_by_length.get(max_ticks, [])
        position = bisect_left(same_length, first)
        if position < len(same_length):
            return start, self._tick_starts[same_length[position]] - shift
        if first < len(self._tick_starts):
            # No run of the same length closes the span: upstream falls back to the first of
            # the longest runs if it is shorter than the opening one.
            longest = self._tick_longest_from[first]
            longest_length = self._tick_lengths[longest]
            if 0 < longest_length < max_ticks:
                return (
                    start - (max_ticks - longest_length),
                    self._tick_starts[longest] - shift,
                )
        return start + max_ticks, None

    def _index_ticks(self, text: str) -> None:
        """Record every maximal run of backticks in ``text``."""
        runs = [(match.start(), match.end() - match.start()) for match in _TICKS_RE.finditer(text)]
        by_length: dict[int, list[int]] = {}
        for index, (_, length) in enumerate(runs):
            by_length.setdefault(length, []).append(index)
        longest_from = [0] * len(runs)
        best = -1
        for index in range(len(runs) - 1, -1, -1):
            # ">=" keeps the earliest of equally long runs, as upstream's strict ">" does.
            if best == -1 or runs[index][1] >= runs[best][1]:
                best = index
            longest_from[index] = best
        self._tick_text = text
        self._tick_starts = [run_start for run_start, _ in runs]
        self._tick_lengths = [length for _, length in runs]
        self._tick_runs_by_length = by_length
        self._tick_longest_from = longest_from


class EscapeRawHtmlExtension(Extension):
    """Make Python-Markdown treat raw HTML as literal text.

    Python-Markdown 3 has no ``safe_mode``. Raw HTML reaches the output through exactly two
    routes: the ``html_block`` preprocessor (block-level HTML) and the ``html`` inline pattern
    (inline tags, comments, processing instructions). Both copy the markup verbatim into the
    HTML stash. With them deregistered the markup stays ordinary text, and the serializer
    escapes ``<``, ``>`` and ``&`` in text, so ``<b>`` is displayed as ``<b>``.

    Escaping ``<``/``>``/``&`` in the source *before* rendering was rejected: Markdown would then
    escape the ``&`` of the entities again inside code spans and fenced blocks (showing
    ``&amp;lt;``), and a leading ``>`` would no longer start a block quote.

    Images are turned into links: ``img`` is not allowed (it loads remote content on view and
    was a favourite XSS vector), so ``![alt](url)`` renders as a link labelled ``alt``, whose
    scheme bleach checks like any other link.

    The ``entity`` pattern is kept so that ``&amp;`` still means ``&``; entities are harmless
    because bleach parses them and checks URL schemes after decoding them.
    """

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # Markdown names the hook.
        """Disable raw HTML, replace the link and image processors and tighten headings."""
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # Same names and priorities as Python-Markdown's own code-span, link and image
        # processors, which these replace: code spans and links are found in linear time and
        # images become plain links.
        patterns = md.inlinePatterns
        patterns.register(_LinearBacktickProcessor(BACKTICK_RE), "backtick", 190)
        patterns.register(_ReferenceProcessor(REFERENCE_RE, md), "reference", 170)
        patterns.register(_LinkProcessor(LINK_RE, md), "link", 160)
        patterns.register(_LinkProcessor(IMAGE_LINK_RE, md), "image_link", 150)
        patterns.register(_ReferenceProcessor(IMAGE_REFERENCE_RE, md), "image_reference", 140)
        patterns.register(_ShortReferenceProcessor(REFERENCE_RE, md), "short_reference", 130)
        patterns.register(_ShortReferenceProcessor(IMAGE_REFERENCE_RE, md), "short_image_ref", 125)
        md.parser.blockprocessors.register(_ChatHashHeaderProcessor(md.parser), "hashheader", 70)


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    """Return whether ``name="value"`` may stay on ``tag``."""
    if tag == "a":
        return name in ALLOWED_ATTRIBUTES["a"]
    if tag == "code" and name == "class":
        # Only the class fenced_code emits for a language; anything else could be used to
        # borrow the site's CSS (for example to overlay fake UI).
        return _CODE_CLASS_RE.fullmatch(value) is not None
    return False


def _is_safe_href(href: str) -> bool:
    """Return whether ``href`` uses an allowed scheme or is a plain relative reference."""
    # Mirror bleach's normalisation: attribute values may still hold character references
    # (bleach keeps them, Markdown's automail emits them), and browsers ignore whitespace and
    # control characters inside a scheme, so "java&#9;script:" must be judged as "javascript:".
    compact = re.sub(r"[\x00-\x20\x7f-\xa0\s]+", "", unescape(href))
    try:
        scheme = urlsplit(compact).scheme.lower()
    except ValueError:
        # urlsplit rejects some malformed URLs (e.g. an unbalanced "[" in the host).
        return False
    if scheme:
        return scheme in ALLOWED_PROTOCOLS
    # No parsable scheme. A colon before the first "/", "?" or "#" means something that looks
    # like a scheme but is not a valid one (e.g. "java\u200bscript:"); refuse it rather than
    # guess how some browser might read it.
    head = re.split(r"[/?#]", compact, maxsplit=1)[0]
    return ":" not in head


def _link_policy(attrs: dict[Any, str], new: bool = False) -> dict[Any, str] | None:
    """Drop links with unsafe or missing targets and set ``rel`` on the rest."""
    href = attrs.get((None, "href"))
    if not href or not _is_safe_href(href):
        # Returning None makes the linkifier keep the link text and drop the <a>, so a link
        # whose href bleach removed does not linger as an inert anchor.
        return None
    attrs[(None, "rel")] = LINK_REL
    attrs.pop((None, "target"), None)
    return attrs


def _build_markdown() -> markdown.Markdown:
    """Create a Markdown converter configured for chat messages."""
    return markdown.Markdown(
        extensions=[
            EscapeRawHtmlExtension(),
            "fenced_code",
            "nl2br",
            "sane_lists",
        ],
        output_format="html",
    )


def _build_cleaner() -> bleach.sanitizer.Cleaner:
    """Create the bleach cleaner holding the allowlist and the link policy."""
    attribute_filter: Callable[[str, str, str], bool] = _allow_attribute
    return bleach.sanitizer.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=attribute_filter,
        protocols=ALLOWED_PROTOCOLS,
        # Escape rather than drop disallowed markup so nothing a person wrote silently vanishes.
        strip=False,
        strip_comments=True,
        filters=[
            partial(
                LinkifyFilter,
                callbacks=[_link_policy],
                skip_tags={"pre", "code"},
                url_re=_URL_RE,
                # bleach's e-mail pattern is quadratic on long words (2 s for 10 kB of "_a");
                # addresses can still be linked explicitly as <name@example.org>.
                parse_email=False,
            )
        ],
    )


# Neither Markdown instances nor bleach Cleaners are thread-safe (both keep parser state), and
# rendering runs in thread pools under Channels, so keep one of each per thread.
_local = threading.local()


def _converter() -> markdown.Markdown:
    """Return this thread's Markdown converter, reset for a new document."""
    md: markdown.Markdown | None = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _build_markdown()
    md.reset()
    return md


def _cleaner() -> bleach.sanitizer.Cleaner:
    """Return this thread's bleach cleaner."""
    cleaner: bleach.sanitizer.Cleaner | None = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _build_cleaner()
    return cleaner


# Characters that show nothing but are not whitespace to ``str.isspace``: the Hangul and
# Braille blanks that people paste to post "empty" messages.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """Whether ``text`` would show nothing: whitespace, zero-width and other format marks.

    ``str.strip`` keeps zero-width spaces and joiners (Unicode category Cf), so a body of only
    those passed as "not empty" and showed as an empty message.
    """
    return all(
        char.isspace() or unicodedata.category(char) in {"Cf", "Cc"} or char in _INVISIBLE_LETTERS
        for char in text
    )


def _normalise(source: str) -> str:
    """Unify line endings and remove invisible control characters."""
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    # U+2028/U+2029 are line/paragraph separators; treat them as the newline the person meant.
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return _DANGEROUS_CHARS_RE.sub("", text)


def _fallback_html(text: str) -> str:
    """Render ``text`` as escaped paragraphs without Markdown."""
    escaped = bleach.clean(text, tags=set(), strip=False)
    return "<p>" + escaped.replace("\n", "<br>") + "</p>"


def render_markdown(source: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """Render chat Markdown to sanitised HTML.

    Raise :class:`ContentTooLong` if the normalised source is longer than ``max_length``.
    """
    # Reject absurd payloads before doing any work on them. Normalisation can at most halve the
    # length (CRLF -> LF), so anything over twice the limit cannot pass the real check below.
    if len(source) > 2 * max_length:
        raise ContentTooLong(len(source), max_length)
    # Count the normalised text so a browser's CRLF line endings do not count twice.
    text = _normalise(source)
    if len(text) > max_length:
        raise ContentTooLong(len(text), max_length)
    if not text.strip():
        return ""
    try:
        html = _converter().convert(text)
    except RecursionError:
        # Pathologically deep nesting (e.g. thousands of ">" or list markers) exhausts
        # Python-Markdown's recursive block parser; show such text literally instead.
        _local.md = None
        html = _fallback_html(text)
    return _cleaner().clean(html)


class _TextExtractor(HTMLParser):
    """Collect the text of sanitised HTML, separating blocks with spaces."""

    _BREAKING_TAGS = frozenset(
        {"p", "br", "li", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
    )

    def __init__(self) -> None:
        """Start with no collected text."""
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Separate block-level content from what came before."""
        if tag in self._BREAKING_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        """Separate block-level content from what comes after."""
        if tag in self._BREAKING_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        """Keep text content."""
        self.parts.append(data)


def render_plain_preview(source: str, *, length: int = 140) -> str:
    """Return a short plain-text preview of Markdown ``source``.

    The result is plain text, not HTML: it contains no markup but may contain ``<`` or ``&``
    literally, so callers must escape it when they put it into HTML.
    """
    if length <= 0:
        return ""
    # A preview needs only the start of the message, and rendering a prefix keeps this from
    # ever raising ContentTooLong or spending time on a huge body.
    html = render_markdown(source[:DEFAULT_MAX_LENGTH], max_length=DEFAULT_MAX_LENGTH)
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = _WHITESPACE_RE.sub(" ", "".join(extractor.parts)).strip()
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    # Prefer to break at a word boundary, unless that would throw away most of the preview.
    space = cut.rfind(" ")
    if space >= length // 2:
        cut = cut[:space]
    return cut.rstrip() + "\u2026"
