"""Structure and self-containment checks of a compliance report's HTML (standard library only).

Used twice: by ``scripts/check_report_html.sh`` on the DOM that headless Chromium dumps
(``--dump-dom``), and by ``tests/test_report_browser.py`` on the rendered page directly when no
Chromium is installed. Run it by hand::

    python scripts/report_dom_check.py PAGE.html [--model fraud-detector ...] [--empty]

It prints one line per problem and exits 1 if there is any, else prints ``ok ...`` and exits 0.

What a report page must have: a ``<title>``, one ``<h1>``, the totals cards (``#totals`` with
one ``.card`` per total), and per model a ``section.model[data-model]`` holding the three
accountable roles (owner, guardian, operator), a serving timeline (``.timeline`` with a
``.bar`` of ``.seg`` and a dated ``.axis`` of ``.tick``), the serving-periods table
(``table.serving``) and the events table (``table.events`` with one row per event). An
empty period has no model sections and says "No governance events".

Self-contained: no ``<script>``, and no element loads anything from elsewhere
(``src``/``href``/``srcset``/``poster``/``data`` of link, script, img, iframe, source, video,
audio, embed, object, image, use, input, track, base must be absent, a fragment ``#...`` or a
``data:`` URL), and no CSS ``url(...)`` or ``@import`` pointing outside the page.
Plain ``<a href>`` links are allowed only as in-page fragments too (the page is evidence and
must not depend on, or send the reader to, anything it does not contain).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

TOTAL_KEYS = (
    "events",
    "model_changes",
    "approvals",
    "unsigned_approvals",
    "rejections",
    "incidents",
    "kills",
    "re_enables",
)
ROLES = ("owner", "guardian", "operator")
_RESOURCE_TAGS = {
    "link",
    "script",
    "img",
    "iframe",
    "frame",
    "source",
    "video",
    "audio",
    "embed",
    "object",
    "image",
    "use",
    "input",
    "track",
    "base",
    "a",
    "form",
}
_URL_ATTRS = {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "background"}
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]*)|@import\s+['\"]?([^'\";\s]+)", re.IGNORECASE)


def _local(url: str) -> bool:
    value = url.strip()
    return value == "" or value.startswith("#") or value.lower().startswith("data:")


@dataclass
class _Model:
    name: str
    roles: set[str] = field(default_factory=set)
    timelines: int = 0
    bars: int = 0
    segments: int = 0
    ticks: int = 0
    serving_tables: int = 0
    serving_rows: int = 0
    events_tables: int = 0
    event_rows: int = 0


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = 0
        self.totals: list[str] = []
        self.cards_box = 0
        self.models: list[_Model] = []
        self.external: list[str] = []
        self.scripts = 0
        self.text: list[str] = []
        self._stack: list[tuple[str, set[str]]] = []
        self._in_title = False
        self._in_style = False
        self._section_depth: int | None = None
        self._table: str | None = None
        self._in_tbody = False

    # -- helpers
    def _within(self, cls: str) -> bool:
        return any(cls in classes for _, classes in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        classes = set(values.get("class", "").split())
        if tag == "script":
            self.scripts += 1
        if tag in _RESOURCE_TAGS:
            for name in _URL_ATTRS & values.keys():
                for url in values[name].split(","):
                    candidate = url.strip().split(" ")[0] if name == "srcset" else url
                    if not _local(candidate):
                        self.external.append(f"<{tag} {name}={values[name]!r}>")
        for match in _CSS_URL.finditer(values.get("style", "")):
            target = match.group(1) or match.group(2) or ""
            if not _local(target):
                self.external.append(f"style attribute url {target!r} on <{tag}>")
        if tag == "title":
            self._in_title = True
        elif tag == "style":
            self._in_style = True
        elif tag == "h1":
            self.h1 += 1
        if values.get("id") == "totals":
            self.cards_box += 1
        if "card" in classes and self._within_id("totals"):
            self.totals.append(values.get("data-total", ""))
        if tag == "section" and "model" in classes:
            self.models.append(_Model(values.get("data-model", "")))
            self._section_depth = len(self._stack)
        current = self.models[-1] if self.models and self._section_depth is not None else None
        if current is not None:
            if tag == "b" and values.get("data-role"):
                current.roles.add(values["data-role"])
            if "timeline" in classes:
                current.timelines += 1
            if "bar" in classes and self._within("timeline"):
                current.bars += 1
            if "seg" in classes and self._within("bar"):
                current.segments += 1
            if "tick" in classes and self._within("axis"):
                current.ticks += 1
            if tag == "table" and "serving" in classes:
                current.serving_tables += 1
                self._table = "serving"
            if tag == "table" and "events" in classes:
                current.events_tables += 1
                self._table = "events"
            if tag == "tbody":
                self._in_tbody = True
            if tag == "tr" and self._in_tbody:
                if self._table == "serving":
                    current.serving_rows += 1
                elif self._table == "events":
                    current.event_rows += 1
        if tag not in _VOID:
            self._stack.append((tag, classes | {f"#id:{values.get('id', '')}"}))

    def _within_id(self, ident: str) -> bool:
        return any(f"#id:{ident}" in classes for _, classes in self._stack)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "style":
            self._in_style = False
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "table":
            self._table = None
        # pop to the matching open tag (tolerates unclosed children)
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break
        depth = self._section_depth
        if tag == "section" and depth is not None and len(self._stack) <= depth:
            self._section_depth = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._in_style:
            for match in _CSS_URL.finditer(data):
                target = match.group(1) or match.group(2) or ""
                if not _local(target):
                    self.external.append(f"stylesheet url {target!r}")
        else:
            self.text.append(data)


_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


def check_report_dom(
    page: str, *, models: tuple[str, ...] | list[str] = (), empty: bool = False
) -> list[str]:
    """Problems found in ``page`` (an empty list when it passes).

    ``models``: model names that must each have a section; ``empty``: the page must be the
    empty-period report (no model section, says so).
    """
    scan = _Scan()
    scan.feed(page)
    scan.close()
    problems: list[str] = []
    if "compliance report" not in scan.title.lower():
        problems.append(
            f"title: got {scan.title.strip()!r}, expected it to name the compliance report"
        )
    if scan.h1 != 1:
        problems.append(f"h1: got {scan.h1}, expected exactly one page heading")
    if scan.cards_box != 1:
        problems.append(f"totals: got {scan.cards_box} #totals boxes, expected 1")
    if sorted(scan.totals) != sorted(TOTAL_KEYS):
        problems.append(f"totals cards: got {scan.totals}, expected one per {list(TOTAL_KEYS)}")
    if scan.scripts:
        problems.append(f"script: got {scan.scripts} <script> element(s), expected none (no JS)")
    problems += [f"external resource: {what}" for what in scan.external]
    text = " ".join(" ".join(scan.text).split())
    if empty:
        if scan.models:
            problems.append(f"empty period: got {len(scan.models)} model section(s), expected none")
        if "No governance events" not in text:
            problems.append("empty period: the page does not say 'No governance events'")
    elif not scan.models:
        problems.append("models: no section.model in the page")
    names = [m.name for m in scan.models]
    for wanted in models:
        if wanted not in names:
            problems.append(f"models: no section for {wanted!r}; sections: {names}")
    for m in scan.models:
        where = f"model {m.name or '(unnamed)'}"
        if not m.name:
            problems.append(f"{where}: section.model without data-model")
        missing = [r for r in ROLES if r not in m.roles]
        if missing:
            problems.append(f"{where}: roles {missing} not shown (each role, or 'not recorded')")
        if not m.timelines or not m.bars or not m.segments:
            problems.append(
                f"{where}: serving timeline incomplete (timelines {m.timelines}, bars {m.bars}, "
                f"segments {m.segments}); expected a .timeline with a .bar of .seg"
            )
        if m.timelines and m.ticks < 2 * m.timelines:
            problems.append(
                f"{where}: serving timeline has {m.ticks} dated axis ticks for {m.timelines} "
                "bar(s); expected at least a start and an end date under each bar"
            )
        if m.serving_tables != 1 or m.serving_rows < 1:
            problems.append(
                f"{where}: serving table: got {m.serving_tables} table(s), {m.serving_rows} row(s)"
            )
        if m.events_tables != 1 or m.event_rows < 1:
            problems.append(
                f"{where}: events table: got {m.events_tables} table(s), {m.event_rows} row(s)"
            )
    return problems


def summary(page: str) -> str:
    scan = _Scan()
    scan.feed(page)
    scan.close()
    parts = [
        f"{m.name}: {m.event_rows} events, {m.segments} timeline segments" for m in scan.models
    ]
    return f"title {scan.title.strip()!r}; {len(scan.models)} model(s)" + (
        "; " + "; ".join(parts) if parts else ""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="the HTML (or Chromium's --dump-dom output)")
    parser.add_argument("--model", action="append", default=[], help="a model that must appear")
    parser.add_argument("--empty", action="store_true", help="expect the empty-period page")
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    problems = check_report_dom(page, models=args.model, empty=args.empty)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    print(f"ok {summary(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
