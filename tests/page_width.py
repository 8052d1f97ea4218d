"""How wide a notebook's outputs are, in characters, against the book's column.

Measured in the built book (a 1280-pixel window): a code box holds 80 characters, and a
table of about 80 characters (cells plus two of padding each) fits the text column.
Text outputs are measured line by line; an HTML table by the sum of its columns' widest
cells plus two characters of padding each.
"""

from __future__ import annotations

from html.parser import HTMLParser

CODE_WIDTH = 80
TABLE_WIDTH = 80


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_widths(html: str) -> list[int]:
    parser = _Tables()
    parser.feed(html)
    widths = []
    for table in parser.tables:
        columns: dict[int, int] = {}
        for row in table:
            for i, cell in enumerate(row):
                columns[i] = max(columns.get(i, 0), len(cell))
        widths.append(sum(w + 2 for w in columns.values()))
    return widths


def too_wide(cells: list[dict]) -> list[str]:
    """Every output of these notebook cells that would overflow the book's column."""
    problems = []
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "remove-output" in tags or "remove-cell" in tags:
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts = ["".join(output.get("text", ""))] if output.get("output_type") == "stream" else []
            if "text/plain" in data and not {"text/html", "image/png", "text/markdown"} & set(data):
                texts.append("".join(data["text/plain"]))
            for text in texts:
                for line in text.splitlines():
                    if len(line) > CODE_WIDTH:
                        problems.append(f"cell {i}: a {len(line)}-character line: {line[:60]}...")
            for width in table_widths("".join(data.get("text/html", ""))):
                if width > TABLE_WIDTH:
                    problems.append(f"cell {i}: a table about {width} characters wide")
    return problems
