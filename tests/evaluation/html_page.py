"""Read an HTML report back: its tables and images, and what headless Chromium shows."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from PIL import Image

from tests.chromium import chromium_command

# Marks the body with "loaded/total" images once the page and all its images have loaded
# or failed. (Truncated PNGs still show their size here: png_sizes decodes them in full.)
_PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((image) => image.complete && image.naturalWidth > 0);
  document.body.dataset.images = loaded.length + "/" + images.length;
});
</script>"""


class Page(HTMLParser):
    """Tables (by the heading of their section) and image sources of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[pd.DataFrame]] = {}
        self.images: list[str] = []
        self._rows: list[list[str]] = []
        self._heading = ""
        self._text: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("h2", "td", "th"):
            self._text = ""

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "h2":
            self._heading, self._text = self._text, None
        elif tag in ("td", "th"):
            self._rows[-1].append(self._text.strip())
            self._text = None
        elif tag == "table":
            table = pd.DataFrame(self._rows[1:], columns=self._rows[0])
            self.tables.setdefault(self._heading, []).append(table)
            self._rows = []


def png_sizes(sources: list[str]) -> list[tuple[int, int]]:
    """Each ``data:image/png;base64,`` source decoded in full by Pillow: (width, height)."""
    sizes = []
    for source in sources:
        assert source.startswith("data:image/png;base64,"), source[:40]
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        image.load()  # a truncated PNG fails here
        sizes.append(image.size)
    return sizes


def chromium_images(html: str, folder: Path) -> tuple[int, int]:
    """(loaded, total) images of ``html`` opened from a file in ``folder`` by headless
    Chromium, on a closed network, with a fresh profile."""
    page = folder / "page.html"
    page.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    result = subprocess.run(
        chromium_command(folder / "chromium-profile", "--dump-dom", page.as_uri()),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    match = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert match, f"the probe did not run: {result.stdout[-500:]}{result.stderr[-500:]}"
    return int(match[1]), int(match[2])
