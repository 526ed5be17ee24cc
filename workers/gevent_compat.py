"""Under the gevent pool, import httpcore without trio.

Celery patches the process for gevent before it imports this package, and gevent's patching removes
`select.epoll`. httpcore (imported lazily by httpx, on the first request) tries `import trio` for its
trio support; an installed trio then fails with AttributeError instead of ImportError, httpcore does
not catch that, and every job ended with an internal error. Importing httpcore here, with trio
hidden, makes it do without trio (which a Celery worker never runs under) whatever is installed.
"""

from __future__ import annotations

import sys


def import_httpcore_without_trio() -> None:
    if "httpcore" in sys.modules or "trio" in sys.modules:
        return
    try:
        from gevent import monkey
    except ImportError:
        return
    if not monkey.is_module_patched("select"):
        return
    sys.modules["trio"] = None  # type: ignore[assignment]  # `import trio` now raises ImportError
    try:
        import httpcore  # noqa: F401
    finally:
        del sys.modules["trio"]


import_httpcore_without_trio()
