"""Tests for chatserver.rendering: hostile input, ordinary Markdown, previews and limits.

None of these tests need Django or a database.
"""

from __future__ import annotations

import pickle
import re
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown import Markdown
from markdown.inlinepatterns import (
    BACKTICK_RE,
    LINK_RE,
    BacktickInlineProcessor,
    LinkInlineProcessor,
)

from chatserver import rendering
from chatserver.rendering import (
    RENDER_VERSION,
    ContentTooLong,
    render_markdown,
    render_plain_preview,
)

# The policy is restated here rather than imported, so a change to the module's allowlist has
# to be made twice and cannot silently widen what the tests accept.
ALLOWED_TAGS = frozenset(
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
ALLOWED_ATTRIBUTES = {"a": frozenset({"href", "title", "rel"}), "code": frozenset({"class"})}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
CODE_CLASS_RE = re.compile(r"language-[a-z0-9+-]+")

FORBIDDEN_SUBSTRINGS = ("<script", "<svg", "<iframe", "<img", "<style", "<math", "<object")
# An on*= attribute inside a tag; quoted attribute values are skipped, since text such as
# title="a onclick=b" is harmless data, not an attribute.
EVENT_HANDLER_IN_TAG_RE = re.compile(
    r"""<[a-z][^<>"']*(?:(?:"[^"]*"|'[^']*')[^<>"']*)*\son\w+\s*=""", re.IGNORECASE
)


class AllowlistChecker(HTMLParser):
    """Collect every way in which rendered HTML leaves the allowlist."""

    def __init__(self) -> None:
        """Start with no problems and no links."""
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check the tag, its attributes and any link target."""
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
            return
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"duplicate attributes on <{tag}>: {names}")
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES.get(tag, frozenset()):
                self.problems.append(f"attribute {name}= on <{tag}>")
            elif tag == "code" and not CODE_CLASS_RE.fullmatch(value or ""):
                self.problems.append(f"class {value!r} on <code>")
        if tag == "a":
            self._check_link(dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check self-closing tags like any other start tag."""
        self.handle_starttag(tag, attrs)

    def _check_link(self, attrs: dict[str, str | None]) -> None:
        """Check that a link has a safe target and the required rel."""
        href = attrs.get("href")
        if href is None:
            self.problems.append("<a> without href")
            return
        self.hrefs.append(href)
        if attrs.get("rel") != LINK_REL:
            self.problems.append(f"<a href={href!r}> has rel={attrs.get('rel')!r}")
        scheme = href_scheme(href)
        if scheme is not None and scheme not in ALLOWED_SCHEMES:
            self.problems.append(f"href scheme {scheme!r} in {href!r}")

    def handle_comment(self, data: str) -> None:
        """Reject comments: they can hide conditional-comment tricks."""
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        """Reject declarations."""
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        """Reject processing instructions."""
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        """Reject CDATA sections and other marked sections."""
        self.problems.append(f"marked section {data!r}")


def href_scheme(href: str) -> str | None:
    """Return the scheme a browser would see in ``href``, or None for a relative reference."""
    # Browsers ignore whitespace and control characters inside a scheme; also drop every
    # non-ASCII character so invisible ones cannot hide a scheme from this check.
    compact = re.sub(r"[\x00-\x20\x7f-\xa0\s]+|[^\x00-\x7f]", "", href).lower()
    head = re.split(r"[/?#]", compact, maxsplit=1)[0]
    if ":" not in head:
        return None
    return head.split(":", 1)[0]


def allowlist_problems(html: str) -> list[str]:
    """Return every allowlist violation in rendered ``html``."""
    checker = AllowlistChecker()
    checker.feed(html)
    checker.close()
    return checker.problems


def link_targets(html: str) -> list[str]:
    """Return the href of every link in rendered ``html``."""
    checker = AllowlistChecker()
    checker.feed(html)
    checker.close()
    return checker.hrefs


HOSTILE_INPUTS = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("<SCRIPT>alert(1)</SCRIPT>", id="script-uppercase"),
    pytest.param("<ScRiPt >alert(1)</sCrIpT >", id="script-mixed-case"),
    pytest.param("<script\n>alert(1)</script\n>", id="script-split-lines"),
    pytest.param("<scr<script>ipt>alert(1)</scr</script>ipt>", id="script-nested"),
    pytest.param("<<script>script>alert(1)<</script>/script>", id="script-doubled-angle"),
    pytest.param('<script src="https://evil.example/x.js"></script>', id="script-src"),
    pytest.param("<scr\x00ipt>alert(1)</scr\x00ipt>", id="script-with-nul"),
    pytest.param("</p><script>alert(1)</script><p>", id="script-breaking-out-of-p"),
    pytest.param("> <script>alert(1)</script>", id="script-in-blockquote"),
    pytest.param("**<script>**alert(1)", id="script-in-strong"),
    pytest.param("&lt;script&gt;alert(1)&lt;/script&gt;", id="script-named-entities"),
    pytest.param("&#60;script&#62;alert(1)&#60;/script&#62;", id="script-numeric-entities"),
    pytest.param("\uff1cscript\uff1ealert(1)\uff1c/script\uff1e", id="script-fullwidth"),
    pytest.param("[x](javascript:alert(1))", id="md-link-javascript"),
    pytest.param("[x](JaVaScRiPt:alert(1))", id="md-link-javascript-mixed-case"),
    pytest.param("[x](&#106;avascript:alert(1))", id="md-link-javascript-entity"),
    pytest.param("[x](&#x6A;avascript&#58;alert(1))", id="md-link-javascript-hex-entity"),
    pytest.param("[x](javascript&colon;alert(1))", id="md-link-javascript-colon-entity"),
    pytest.param("[x](<javascript:alert(1)>)", id="md-link-javascript-angle"),
    pytest.param("[x]( javascript:alert(1) )", id="md-link-javascript-spaces"),
    pytest.param("[x](java\tscript:alert(1))", id="md-link-javascript-tab"),
    pytest.param("[x](\x00javascript:alert(1))", id="md-link-javascript-nul"),
    pytest.param("[x](java&#9;script:alert(1))", id="md-link-javascript-tab-entity"),
    pytest.param("[x](java\u200bscript:alert(1))", id="md-link-javascript-zero-width"),
    pytest.param("[x](java\u200dscript:alert(1))", id="md-link-javascript-zwj"),
    pytest.param("[x](vbscript:msgbox(1))", id="md-link-vbscript"),
    pytest.param(
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", id="md-link-data"
    ),
    pytest.param("[x][ref]\n\n[ref]: javascript:alert(1)", id="md-reference-javascript"),
    pytest.param('[ref]\n\n[ref]: javascript:alert(1) "t"', id="md-short-reference-javascript"),
    pytest.param("[x][r]\n\n[r]: data:text/html,<script>alert(1)</script>", id="md-ref-data"),
    pytest.param(
        '[x](https://example.org "t\\" onmouseover=\\"alert(1))', id="md-link-title-breakout"
    ),
    pytest.param('[x](https://example.org"onmouseover="alert(1))', id="md-link-href-breakout"),
    pytest.param("[<img src=x onerror=alert(1)>](https://x.org)", id="md-link-text-img"),
    pytest.param("![x](javascript:alert(1))", id="md-image-javascript"),
    pytest.param(
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)", id="md-image-data"
    ),
    pytest.param("![x](https://x.org/a.png)", id="md-image-https"),
    pytest.param("![x][i]\n\n[i]: javascript:alert(1)", id="md-image-reference-javascript"),
    pytest.param('<a href="javascript:alert(1)">x</a>', id="html-a-javascript"),
    pytest.param('<a href="data:text/html,<script>alert(1)</script>">x</a>', id="html-a-data"),
    pytest.param(
        '<a href="&#0000106&#0000097vascript:alert(1)">x</a>', id="html-a-entity-no-semicolon"
    ),
    pytest.param('<a href="https://x.org" onclick="alert(1)">x</a>', id="html-a-onclick"),
    pytest.param('<a href="mailto:x@y.example" title="<script>">m</a>', id="html-a-title"),
    pytest.param("<img src=x onerror=alert(1)>", id="img-onerror"),
    pytest.param('<div onmouseover="alert(1)">hover</div>', id="div-onmouseover"),
    pytest.param("<p onclick=alert(1)>x</p>", id="allowed-tag-onclick"),
    pytest.param('<b style="position:fixed">x</b>', id="allowed-tag-style"),
    pytest.param('<div style="background:url(javascript:alert(1))">x</div>', id="style-url"),
    pytest.param("<svg onload=alert(1)>", id="svg-onload"),
    pytest.param("<svg><script>alert(1)</script></svg>", id="svg-script"),
    pytest.param('<math><mi xlink:href="javascript:alert(1)">x</mi></math>', id="math"),
    pytest.param('<iframe src="javascript:alert(1)"></iframe>', id="iframe"),
    pytest.param("<style>body{display:none}</style>", id="style"),
    pytest.param(
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        id="noscript-mxss",
    ),
    pytest.param('<object data="javascript:alert(1)"></object>', id="object"),
    pytest.param("<embed src=javascript:alert(1)>", id="embed"),
    pytest.param('<form action="javascript:alert(1)"><button>x</button></form>', id="form"),
    pytest.param('<meta http-equiv="refresh" content="0;url=javascript:alert(1)">', id="meta"),
    pytest.param('<base href="javascript:/">', id="base"),
    pytest.param("<link rel=stylesheet href=https://evil.example/x.css>", id="link"),
    pytest.param("<template><script>alert(1)</script></template>", id="template"),
    pytest.param("<select><style></select><img src=x onerror=alert(1)>", id="select-style"),
    pytest.param("<xss onafterscriptexecute=alert(1)><script>1</script>", id="unknown-tag"),
    pytest.param("<b><i>unclosed <a href='https://x.org'>x", id="unclosed-tags"),
    pytest.param('<a href="https://x.org"><b>nested</a></b>', id="misnested-tags"),
    pytest.param("<javascript:alert(1)>", id="autolink-javascript"),
    pytest.param('<http://x.org" onmouseover="alert(1)>', id="autolink-breakout"),
    pytest.param("<!-- <script>alert(1)</script> -->", id="html-comment"),
    pytest.param("<!--[if IE]><script>alert(1)</script><![endif]-->", id="conditional-comment"),
    pytest.param("<![CDATA[<script>alert(1)</script>]]>", id="cdata"),
    pytest.param("<?php echo 1 ?>", id="processing-instruction"),
    pytest.param("<!DOCTYPE html>", id="doctype"),
    pytest.param("\u202e[x](javascript:alert(1))\u202d", id="bidi-override"),
    pytest.param("[click](https://x.org/\u202egnp.exe)", id="bidi-in-url"),
    pytest.param("`<script>alert(1)</script>`", id="inline-code-script"),
    pytest.param("```html\n<script>alert(1)</script>\n```", id="fenced-code-script"),
    pytest.param('```" onclick="alert(1)\nx\n```', id="fenced-code-lang-breakout"),
    pytest.param("```{onclick=alert(1)}\nx\n```", id="fenced-code-attr-list"),
    pytest.param("# <svg onload=alert(1)>", id="heading-svg"),
    pytest.param("- <img src=x onerror=alert(1)>", id="list-img"),
    pytest.param("www.example.org/<script>alert(1)</script>", id="linkified-script"),
    pytest.param('https://example.org/"onmouseover="alert(1)', id="linkified-breakout"),
    pytest.param("https://[::1]]/x www.[x", id="linkified-invalid-ipv6"),
]


@pytest.mark.parametrize("source", HOSTILE_INPUTS)
def test_hostile_input_is_neutralised(source: str) -> None:
    html = render_markdown(source)

    lowered = html.lower()
    for forbidden in FORBIDDEN_SUBSTRINGS:
        assert forbidden not in lowered
    assert not EVENT_HANDLER_IN_TAG_RE.search(html)
    assert allowlist_problems(html) == []
    for href in link_targets(html):
        compact = re.sub(r"\s+", "", href).lower()
        assert "javascript:" not in compact
        assert "vbscript:" not in compact
        assert not compact.startswith("data:")
    assert "\u202e" not in html
    assert "\u202d" not in html
    assert "\x00" not in html


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE_INPUTS) >= 30


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("a" * 10_001, id="plain"),
        pytest.param("<script>alert(1)</script>" * 1000, id="script"),
        pytest.param("[" * 10_001, id="brackets"),
        pytest.param("\x00" * 50_000, id="nul"),
    ],
)
def test_over_long_input_raises_before_rendering(source: str) -> None:
    with pytest.raises(ContentTooLong):
        render_markdown(source)


def test_length_limit_is_configurable_and_inclusive() -> None:
    assert render_markdown("a" * 20, max_length=20) == "<p>" + "a" * 20 + "</p>"
    with pytest.raises(ContentTooLong) as raised:
        render_markdown("a" * 21, max_length=20)
    assert raised.value.length == 21
    assert raised.value.max_length == 20
    assert isinstance(raised.value, ValueError)


def test_crlf_line_endings_count_once_against_the_limit() -> None:
    source = "ab\r\n" * 5
    assert render_markdown(source, max_length=15) == render_markdown("ab\n" * 5)


def test_content_too_long_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ContentTooLong(12, 10)))  # noqa: S301 - our own bytes
    assert (error.length, error.max_length) == (12, 10)
    assert str(error) == str(ContentTooLong(12, 10))


# ---------------------------------------------------------------------------------------------
# Ordinary Markdown keeps working.


def test_render_version() -> None:
    assert RENDER_VERSION == 1
    assert isinstance(RENDER_VERSION, int)


def test_bold_and_emphasis() -> None:
    assert render_markdown("**bold** and *em*") == "<p><strong>bold</strong> and <em>em</em></p>"


def test_unordered_and_ordered_lists() -> None:
    html = render_markdown("- one\n- two\n\n1. first\n2. second")
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html


def test_fenced_code_is_escaped_and_not_rendered() -> None:
    html = render_markdown("```python\nif a < b and c > d: print('**not bold**')\n```")
    assert html.startswith('<pre><code class="language-python">')
    assert "if a &lt; b and c &gt; d: print('**not bold**')" in html
    assert "<strong>" not in html


def test_fenced_code_with_unsafe_language_drops_the_class() -> None:
    html = render_markdown("```c#\nint x;\n```")
    assert html.startswith("<pre><code>")
    assert "class" not in html


def test_inline_code() -> None:
    assert render_markdown("use `x = <b>` here") == "<p>use <code>x = &lt;b&gt;</code> here</p>"


def test_link_keeps_href_and_gets_rel() -> None:
    html = render_markdown("[x](https://example.org)")
    assert html == f'<p><a href="https://example.org" rel="{LINK_REL}">x</a></p>'


def test_link_title_is_kept() -> None:
    html = render_markdown('[x](https://example.org "The title")')
    assert 'title="The title"' in html
    assert f'rel="{LINK_REL}"' in html


def test_mailto_and_relative_links_are_kept() -> None:
    assert link_targets(render_markdown("[m](mailto:a@example.org) [r](/rooms/1)")) == [
        "mailto:a@example.org",
        "/rooms/1",
    ]


def test_unknown_scheme_link_is_reduced_to_its_text() -> None:
    assert render_markdown("[x](foo:bar) [y](ftp://x.org/)") == "<p>x y</p>"


def test_email_in_angle_brackets_becomes_mailto_link() -> None:
    html = render_markdown("<name@example.org>")
    assert link_targets(html) == ["mailto:name@example.org"]
    assert allowlist_problems(html) == []


def test_bare_urls_are_linkified() -> None:
    html = render_markdown("see https://example.org/a?b=1&c=2 and www.example.se.")
    assert link_targets(html) == ["https://example.org/a?b=1&c=2", "http://www.example.se"]
    assert html.endswith("</a>.</p>")
    assert allowlist_problems(html) == []


def test_bare_url_trailing_punctuation_and_parentheses() -> None:
    html = render_markdown("(https://example.org/x) https://en.example.org/a_(b)!")
    assert link_targets(html) == ["https://example.org/x", "https://en.example.org/a_(b)"]


def test_urls_in_code_are_not_linkified() -> None:
    assert "<a" not in render_markdown("`https://example.org` and\n\n    https://example.org")


def test_autolink_in_angle_brackets() -> None:
    assert link_targets(render_markdown("<https://example.org/x>")) == ["https://example.org/x"]


def test_swedish_text_survives() -> None:
    assert render_markdown("Hej på dig, åäö ÅÄÖ!") == "<p>Hej på dig, åäö ÅÄÖ!</p>"


def test_newline_becomes_br() -> None:
    assert render_markdown("line one\nline two") == "<p>line one<br>\nline two</p>"


def test_windows_and_old_mac_line_endings_are_normalised() -> None:
    expected = render_markdown("a\nb\n\nc")
    assert render_markdown("a\r\nb\r\n\r\nc") == expected
    assert render_markdown("a\rb\r\rc") == expected


def test_typed_html_is_shown_escaped() -> None:
    assert render_markdown("<b>not bold</b>") == "<p>&lt;b&gt;not bold&lt;/b&gt;</p>"


def test_entities_are_kept_as_text() -> None:
    assert render_markdown("fish &amp; chips, a < b") == "<p>fish &amp; chips, a &lt; b</p>"


def test_blockquote_and_rule() -> None:
    html = render_markdown("> quoted\n\n---")
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert "<hr>" in html


def test_heading_needs_a_space_so_hashtags_stay_text() -> None:
    assert render_markdown("# Title") == "<h1>Title</h1>"
    assert render_markdown("#general is busy") == "<p>#general is busy</p>"


def test_image_becomes_a_link() -> None:
    html = render_markdown("![a cat](https://example.org/cat.png)")
    assert html == f'<p><a href="https://example.org/cat.png" rel="{LINK_REL}">a cat</a></p>'


def test_empty_and_blank_input() -> None:
    assert render_markdown("") == ""
    assert render_markdown(" \n\t\n") == ""


def test_dangerous_unicode_is_removed_but_other_text_is_not() -> None:
    html = render_markdown("a\u202eb\u2066c\u2069d\x00e \u200d👨\u200d👩\u200d👧")
    assert html == "<p>abcde \u200d👨\u200d👩\u200d👧</p>"


def test_recursion_error_falls_back_to_escaped_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> object:
        raise RecursionError

    monkeypatch.setattr(rendering, "_converter", explode)
    assert render_markdown("**a** <b>\nc") == "<p>**a** &lt;b&gt;<br>c</p>"


def test_rendering_is_thread_safe() -> None:
    sources = [f"**{i}** [l](https://x.org/{i})\n- a\n- `{i}`" for i in range(200)]
    expected = [render_markdown(source) for source in sources]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(render_markdown, sources)) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("[" * 10_000, id="brackets"),
        pytest.param("[ [a]() " * 1250, id="brackets-alternating"),
        pytest.param("[](" * 3333, id="link-targets"),
        pytest.param("[a](" * 2500, id="link-targets-text"),
        pytest.param("```\\" * 2500, id="backticks"),
        pytest.param("a.-" * 3333, id="bleach-url-regex"),
        pytest.param("_a" * 5000, id="bleach-email-regex"),
        pytest.param(">" * 10_000, id="nested-quotes"),
        pytest.param("".join("  " * i + "- x\n" for i in range(300))[:10_000], id="nested-lists"),
    ],
)
def test_pathological_input_renders_quickly(source: str) -> None:
    # Each of these took 1-15 s with upstream Python-Markdown or bleach defaults.
    started = time.perf_counter()
    html = render_markdown(source)
    assert time.perf_counter() - started < 3
    assert allowlist_problems(html) == []


# ---------------------------------------------------------------------------------------------
# The linear-time replacements must agree with upstream Python-Markdown.


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(alphabet="[]()a`\\!\x02", max_size=40), prefix=st.text("Q", max_size=3))
def test_linear_link_text_matches_upstream(text: str, prefix: str) -> None:
    md = Markdown()
    upstream = LinkInlineProcessor(LINK_RE, md)
    linear = rendering._LinkProcessor(LINK_RE, md)
    for data in (text, prefix + text):
        for index, char in enumerate(data):
            if char != "[":
                continue
            expected = upstream.getText(data, index + 1)
            actual = linear.getText(data, index + 1)
            assert actual[2] == expected[2]
            if expected[2]:
                assert actual == expected


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(alphabet="``a\\ ", max_size=40), prefix=st.text("Q", max_size=3))
def test_linear_code_spans_match_upstream(text: str, prefix: str) -> None:
    upstream = BacktickInlineProcessor(BACKTICK_RE)
    linear = rendering._LinearBacktickProcessor(BACKTICK_RE)
    for data in (text, prefix + text):
        for index, char in enumerate(data):
            if char == "`":
                assert linear.find_code_spans(index, data) == upstream.find_code_spans(index, data)


# ---------------------------------------------------------------------------------------------
# Plain-text previews.


def test_preview_strips_markup_and_collapses_whitespace() -> None:
    preview = render_plain_preview("# Hi\n\n**bold** and [a link](https://x.org)\n\n- one\n- two")
    assert preview == "Hi bold and a link one two"


def test_preview_is_plain_text_not_html() -> None:
    assert render_plain_preview("<b>x</b> & `<i>`") == "<b>x</b> & <i>"


def test_preview_truncates_at_a_word_with_an_ellipsis() -> None:
    preview = render_plain_preview("word " * 100, length=23)
    assert preview == "word word word word\u2026"
    assert len(preview) <= 23


def test_preview_truncates_a_long_word() -> None:
    preview = render_plain_preview("x" * 500, length=10)
    assert preview == "x" * 9 + "\u2026"


def test_preview_of_short_text_is_unchanged() -> None:
    assert render_plain_preview("Hej åäö") == "Hej åäö"


def test_preview_never_raises_on_long_input() -> None:
    preview = render_plain_preview("long " * 10_000)
    assert len(preview) <= 140
    assert preview.endswith("\u2026")


def test_preview_with_zero_length() -> None:
    assert render_plain_preview("anything", length=0) == ""


def test_preview_drops_dangerous_unicode() -> None:
    assert render_plain_preview("a\u202eb\x00c") == "abc"


# ---------------------------------------------------------------------------------------------
# Property tests.

FRAGMENTS = st.sampled_from(
    [
        "<",
        ">",
        '"',
        "'",
        "`",
        "```",
        "[",
        "]",
        "](",
        ")",
        "(",
        "!",
        "javascript:",
        "JaVaScRiPt:",
        "data:text/html,",
        "vbscript:",
        "&#106;",
        "&#x3a;",
        "&colon;",
        "&",
        ";",
        "onerror=",
        " onload=",
        "alert(1)",
        "<script>",
        "</script>",
        "<img src=x ",
        "<svg",
        "<a href=",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "https://",
        "http://x.org",
        "www.",
        "mailto:",
        "\n",
        "\n\n",
        "    ",
        "> ",
        "- ",
        "1. ",
        "# ",
        "*",
        "**",
        "_",
        "\\",
        "\u202e",
        "\u200b",
        "\x00",
        "\r",
        "\uff1c",
        "x",
        " ",
    ]
)
HOSTILE_TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=200).map("".join)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(source=st.one_of(st.text(max_size=2000), HOSTILE_TEXT))
def test_any_text_renders_within_the_allowlist(source: str) -> None:
    html = render_markdown(source)
    assert allowlist_problems(html) == []
    assert not EVENT_HANDLER_IN_TAG_RE.search(html)
    preview = render_plain_preview(source, length=50)
    assert len(preview) <= 50


@settings(max_examples=100, deadline=None, database=None)
@given(source=HOSTILE_TEXT)
def test_length_limit_is_the_only_error(source: str) -> None:
    limit = 100
    try:
        html = render_markdown(source, max_length=limit)
    except ContentTooLong:
        assert len(source) > limit
    else:
        assert allowlist_problems(html) == []


@pytest.mark.parametrize(
    ("text", "blank"),
    [
        ("", True),
        (" \n\t", True),
        ("\u200b\u200c\u200d\u2060\ufeff", True),
        ("\u3164\u2800", True),
        ("a", False),
        ("\u200b.", False),
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467", False),  # a family emoji has joiners
        ("\u00a0x", False),
    ],
)
def test_blank_means_shows_nothing(text: str, blank: bool) -> None:
    from chatserver.rendering import is_blank

    assert is_blank(text) is blank
