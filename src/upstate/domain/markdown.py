"""Markdown for incident and maintenance updates, rendered to HTML that is safe to show.

Update bodies are written by people with an account, but they are shown on public status
pages, in mail and in feeds, so a stolen or careless account must not be able to put a
script in front of every visitor. Two independent layers stand in the way:

1. **markdown-it-py** (CommonMark, tables, strikethrough) with raw HTML *off*: `<script>`
   in a body is shown as text, never passed through. Images are off too (a status page
   should not load third-party pixels), and links are kept only for absolute `http`,
   `https` and `mailto` URLs; any other link stays visible as plain text. Every link gets
   `rel="nofollow noopener"`. Single newlines are line breaks, as people type in a box.
2. **nh3** (the Ammonia sanitiser) then re-parses the HTML and keeps only the tags and
   attributes markdown-it is expected to produce, the same URL schemes, and the same
   `rel`, as a defence in depth should a parser bug ever let something through.

What survives is a small vocabulary: paragraphs, line breaks, emphasis, code, quotes,
lists, headings, rules, tables and links with `href`/`title`. No `style`, `class`, `on*`
attributes, `src`, or any tag that loads or runs something.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

LINK_REL = "nofollow noopener"
SCHEMES = frozenset({"http", "https", "mailto"})
TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "code",
        "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th",
        "td",
    }
)  # fmt: skip
ATTRIBUTES = {"a": frozenset({"href", "title"}), "ol": frozenset({"start"})}
MAX_LENGTH = 100_000  # characters; a longer body is cut (it is a status update, not a book)

_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def _allowed_link(url: str) -> bool:
    """Absolute http(s) and mailto only: no javascript:, data:, relative or odd URLs.

    Browsers ignore tabs, newlines and leading control characters in a scheme
    (`java\\tscript:`), so those are removed before the scheme is read.
    """
    match = _SCHEME.match(_CONTROL.sub("", url))
    return match is not None and match.group(1).lower() in SCHEMES


def _link_open(
    renderer: RendererHTML,
    tokens: list[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.disable(["image", "html_inline", "html_block"])
    md.validateLink = _allowed_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _parser()


def render(text: str) -> str:
    """`text` (Markdown) as safe HTML. Never raises for any input string."""
    html = _MD.render(text[:MAX_LENGTH])
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def escape(text: str) -> str:
    """`text` as Markdown that renders to exactly that text (for names and reasons).

    CommonMark treats a backslash before any ASCII punctuation as that character, so
    escaping all of them is always right. Runs of whitespace (newlines, indentation)
    become one space, so a value stays one line of text and never turns into a block.
    """
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))
