"""Sphinx directive ``markdown-include``: a Markdown file of paragraphs and tables, as RST.

Benchmarks print Markdown, which reads well in a terminal and on GitHub; this directive puts
the same file into a page without a Markdown parser (the documentation builds offline with
Sphinx alone). It understands the subset that the benchmarks write: HTML comments (dropped),
pipe tables (the first row is the header, the second the alignment row) and paragraphs, whose
inline code spans become RST literals. Anything else is passed through as text.

Usage in a page::

    .. markdown-include:: benchmarks/wsol_speed.md
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_CODE_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_ALIGNMENT_ROW = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _inline(text: str) -> str:
    """Markdown inline code spans as RST literals; the rest unchanged."""
    return _CODE_SPAN.sub(r"``\1``", text.strip())


def _cells(row: str) -> list[str]:
    return [_inline(cell) for cell in row.strip().strip("|").split("|")]


def _table(rows: list[str]) -> list[str]:
    header, *body = [row for row in rows if not _ALIGNMENT_ROW.match(row)]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *body]:
        first, *rest = _cells(row)
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}" for cell in rest)
    return [*lines, ""]


def markdown_to_rst(markdown: str) -> list[str]:
    """Convert the Markdown subset described in the module docstring to RST lines.

    Args:
        markdown (str): the Markdown text.

    Returns:
        *list[str]*: reStructuredText lines: a ``list-table`` per pipe table, a paragraph per
        run of other non-blank lines.

    Examples::

        >>> markdown_to_rst("| a |\\n|---:|\\n| `x` |")
        ['.. list-table::', '   :header-rows: 1', '', '   * - a', '   * - ``x``', '']
    """
    lines: list[str] = []
    table: list[str] = []
    for line in [*_COMMENT.sub("", markdown).splitlines(), ""]:
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        if table:
            lines.extend(_table(table))
            table = []
        if line.strip():
            lines.append(_inline(line))
        elif lines and lines[-1]:
            lines.append("")
    return lines


def _directive() -> type:
    """The directive class; docutils is imported here so that the conversion above can be
    used (and tested) without Sphinx installed."""
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class MarkdownInclude(Directive):
        """``.. markdown-include:: path``, the path relative to the including page."""

        required_arguments = 1
        has_content = False

        def run(self) -> list[Any]:
            env = self.state.document.settings.env
            relative, absolute = env.relfn2path(self.arguments[0])
            env.note_dependency(relative)
            path = Path(absolute)
            if not path.exists():
                raise self.error(f"markdown-include: {self.arguments[0]} does not exist")
            rst = markdown_to_rst(path.read_text(encoding="utf-8"))
            self.state_machine.insert_input(StringList(rst, source=str(path)), str(path))
            return []

    return MarkdownInclude


def setup(app: Any) -> dict[str, Any]:
    """Register the directive with Sphinx.

    Args:
        app (sphinx.application.Sphinx): the application.

    Returns:
        *dict*: the extension's metadata.
    """
    app.add_directive("markdown-include", _directive())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
