"""An email's HTML made safe to send (nh3, reference 004's rules) and its plain-text twin.

Rendered HTML carries whatever the run's input held, so it is sanitized
before it leaves: no <script>, <iframe>, <object>, <embed> or <form> (nor
any tag outside an allow-list), no on* attributes (only listed attributes
survive), no javascript: URLs (only http, https, mailto, tel and cid), and
inline styles keep only plain layout and typography properties.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

FORBIDDEN = frozenset({"script", "iframe", "object", "embed", "form", "input", "button",
                       "textarea", "select", "option", "style", "link", "meta", "base",
                       "frame", "frameset", "applet", "svg", "math"})
TAGS = frozenset(nh3.ALLOWED_TAGS) - FORBIDDEN | {"center", "font"}
_GENERIC = {"style", "class", "align", "valign", "width", "height", "bgcolor", "border",
            "cellpadding", "cellspacing", "colspan", "rowspan", "dir", "lang", "title"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _GENERIC, "font": {"color", "face", "size"}}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
STYLE_PROPERTIES = {
    "color", "background-color", "font-family", "font-size", "font-style", "font-weight",
    "text-align", "text-decoration", "line-height", "letter-spacing", "vertical-align",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-radius", "border-collapse",
    "width", "max-width", "min-width", "height", "display", "white-space"}


def sanitize(markup: str) -> str:
    """The HTML with everything 004 forbids removed (script and style contents too)."""
    return nh3.clean(markup, tags=set(TAGS), attributes=ATTRIBUTES,
                     clean_content_tags={"script", "style"}, url_schemes=URL_SCHEMES,
                     filter_style_properties=STYLE_PROPERTIES, strip_comments=True,
                     link_rel="noopener noreferrer")


_BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                    "table", "ul", "ol", "blockquote", "pre", "hr", "section", "article",
                    "header", "footer"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith("mailto:"):
                self.parts.append(f" ({href})")
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(re.sub(r"\s+", " ", data))


def to_text(markup: str) -> str:
    """A readable plain-text part from (sanitized) HTML: blocks become lines, links show URLs."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return html.unescape(text)
