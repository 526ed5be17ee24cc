"""Where the console's files are, and the batch matrix as one self-contained page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"
EXPORT_LINE = "export { renderBatch, el };\n"  # the matrix module's only export: dropped when inlined


def _embedded_json(value: Any) -> str:
    """JSON safe inside a <script> element: `<` escaped, so no `</script>` in the data can end it."""
    return json.dumps(value).replace("<", "\\u003c")


def matrix_page(batch: dict[str, Any], title: str) -> str:
    """The Batches page's view of one run: summary, charts, filters and the prompt x provider matrix."""
    css = (STATIC / "console.css").read_text()
    script = (STATIC / "js" / "matrix.js").read_text()
    if EXPORT_LINE not in script:
        raise RuntimeError("console/static/js/matrix.js: its export line changed; update page.py")
    script = script.replace(EXPORT_LINE, "")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{css}</style></head><body><main id='main' class='standalone'></main>"
            f"<script type='application/json' id='batch-data'>{_embedded_json(batch)}</script>"
            f"<script>{script}\nrenderBatch(document.getElementById('main'), "
            f"JSON.parse(document.getElementById('batch-data').textContent), {{}});</script></body></html>")
