"""Markdown to safe HTML: what people write renders, and no classic XSS payload survives."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstate.domain.markdown import ATTRIBUTES, LINK_REL, SCHEMES, TAGS, escape, render

ALLOWED_ATTRIBUTES = {
    tag: {*names, "rel"} if tag == "a" else set(names) for tag, names in ATTRIBUTES.items()
}


class Audit(HTMLParser):
    """Every tag, attribute and text of an HTML fragment, as a browser would parse it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment survived: {data!r}")


def audit(output: str) -> Audit:
    parser = Audit()
    parser.feed(output)
    parser.close()
    return parser


def assert_safe(output: str) -> None:
    """Only the expected tags and attributes; links only to http(s) and mailto."""
    assert "<script" not in output.lower()
    for tag, attrs in audit(output).tags:
        assert tag in TAGS, f"unexpected tag <{tag}> in {output!r}"
        if tag == "a":
            assert attrs.get("rel") == LINK_REL, f"a link without rel in {output!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} in {output!r}"
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()), f"{tag}[{name}] in {output!r}"
            if name == "href":
                cleaned = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value)).lower()
                assert cleaned.split(":", 1)[0] in SCHEMES, f"href {value!r} in {output!r}"


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/xss.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
    "<iframe src='javascript:alert(1)'></iframe>",
    "<object data='javascript:alert(1)'></object>",
    "<embed src='data:text/html,<script>alert(1)</script>'>",
    "<a href='javascript:alert(1)'>x</a>",
    "<a href='&#x6A;avascript:alert(1)'>x</a>",
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<form action='javascript:alert(1)'><button>x</button></form>",
    "<base href='javascript:alert(1)//'>",
    "<meta http-equiv='refresh' content='0;url=javascript:alert(1)'>",
    '"><script>alert(1)</script>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](javascript&#58;alert(1))",
    "[click](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[click](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
    "[click](\x01javascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](file:///etc/passwd)",
    "[click][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<https://ok.example/"onmouseover="alert(1)>',
    '[x](https://ok.example" onmouseover="alert(1))',
    "[x](https://ok.example 'title\" onmouseover=\"alert(1)')",
    "![x](javascript:alert(1))",
    '![x](https://ok.example/x.png" onerror="alert(1))',
    "[![x](https://ok.example/x.png)](javascript:alert(1))",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "**<img src=x onerror=alert(1)>**",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
]


@pytest.mark.parametrize("payload", XSS)
def test_it_lets_no_classic_xss_payload_through(payload: str) -> None:
    output = render(payload)
    assert_safe(output)
    assert "javascript:" not in " ".join(str(a) for _, a in audit(output).tags).lower()


def test_it_shows_raw_html_as_text() -> None:
    output = render("before <b>bold</b> <script>alert(1)</script> after")
    assert "<b>" not in output
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output
    assert (
        "".join(audit(output).text).strip() == "before <b>bold</b> <script>alert(1)</script> after"
    )


def test_it_renders_what_people_write_in_updates() -> None:
    output = render(
        "## Update\nWe are **investigating** _errors_ on `api`.\nSecond line.\n\n"
        "- one\n- two\n\n> quoted\n\n~~wrong~~\n\n| a | b |\n|---|--:|\n| 1 | 2 |"
    )
    assert "<h2>Update</h2>" in output
    assert "<strong>investigating</strong>" in output
    assert "<em>errors</em>" in output
    assert "<code>api</code>" in output
    assert "<br>" in output  # one newline is a line break, as typed in a box
    assert "<li>one</li>" in output
    assert "<blockquote>" in output
    assert "<s>wrong</s>" in output
    assert "<td>2</td>" in output  # alignment styles are dropped with the style attribute
    assert_safe(output)


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("[status](https://status.example.com/a?b=1&c=2)", "https://status.example.com/a?b=1&c=2"),
        ("<http://example.com/x>", "http://example.com/x"),
        ("[mail us](mailto:ops@example.com)", "mailto:ops@example.com"),
    ],
)
def test_it_keeps_web_and_mail_links_with_nofollow_noopener(text: str, href: str) -> None:
    links = [attrs for tag, attrs in audit(render(text)).tags if tag == "a"]
    assert links == [{"href": href, "rel": "nofollow noopener"}]


@pytest.mark.parametrize(
    "unsafe",
    [
        "<p><script>x</script></p>",
        "<p><img src=x></p>",
        '<a href="javascript:x" rel="nofollow noopener">x</a>',
        '<a href="java&#x09;script:x" rel="nofollow noopener">x</a>',
        '<p onclick="x">x</p>',
        '<a href="https://x.example">no rel</a>',
        "<!-- hidden -->",
    ],
)
def test_the_audit_catches_what_it_looks_for(unsafe: str) -> None:
    with pytest.raises(AssertionError):
        assert_safe(unsafe)


@pytest.mark.parametrize(
    "text",
    ["[home](/s/main)", "[top](#top)", "[x](ftp://example.com)", "![i](https://x.example/p.png)"],
)
def test_it_drops_relative_and_other_links_and_all_images(text: str) -> None:
    output = render(text)
    assert all(tag not in ("img",) for tag, _ in audit(output).tags)
    hrefs = [attrs.get("href") for tag, attrs in audit(output).tags if tag == "a"]
    assert hrefs in ([], ["https://x.example/p.png"])  # an image degrades to its link


def test_it_never_raises_and_cuts_huge_bodies() -> None:
    output = render("a" * 300_000 + "\x00\ud7ff")
    assert 100_000 <= len(output) < 100_100


@pytest.mark.parametrize(
    "text",
    [
        "api *prod* [eu](x) <b> `tick` & #1 _under_ \\back",
        "  indented\n\n    four spaces",
        "# not a heading",
        "1. not a list",
        "- not a list",
    ],
)
def test_it_escapes_text_to_render_literally(text: str) -> None:
    output = render(escape(text))
    assert [tag for tag, _ in audit(output).tags] == ["p"]
    assert "".join(audit(output).text).strip() == " ".join(text.split())


FRAGMENTS = st.sampled_from(
    [
        "<", ">", "\"", "'", "`", "(", ")", "[", "]", "!", "&", "#", ";", ":", "\n", " ", "\t",
        "javascript:", "data:", "vbscript:", "<script>", "</script>", "<img src=x ", "onerror=",
        "alert(1)", "https://ok.example", "mailto:a@b.example", "&#106;", "&#x3A;", "%3A",
        "<a href=", "<svg", "onload=", "*", "_", "~~", "|", "-", "<!--", "-->", "\\", "\x00",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40).map("".join))
def test_it_stays_safe_for_any_mix_of_dangerous_fragments(text: str) -> None:
    assert_safe(render(text))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80))
def test_it_escapes_any_text_to_itself(text: str) -> None:
    output = render(escape(text))
    assert_safe(output)
    assert html.unescape("".join(audit(output).text)).strip() == " ".join(text.split())
