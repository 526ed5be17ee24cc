"""The web console the gateway serves at `/`: Compare, Batches, Providers (static files in `static/`).

`matrix_page` writes a batch's matrix as one self-contained HTML file (the console's own CSS and
matrix module inlined, the rows embedded as JSON) that works opened from disk, without a server.
"""

from multillm.producers.console.page import STATIC, matrix_page

__all__ = ["STATIC", "matrix_page"]
