"""Static files of the browser demo at /demo, with a Content-Security-Policy that allows no inline script.

`/demo` is the shop, `/demo/agent` the agent console, `/demo/claim#code=…` the page handoff links and QR codes
open (handoff.service.CLAIM_PATH); `/demo/sdk/` holds the JS SDK's build. The pages call only this origin:
HTTP for the API and the same host's WebSocket for /v1/stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router

if TYPE_CHECKING:
    from litestar.types import ASGIApp

STATIC_DIR = Path(__file__).with_name("static")
"""index.html (shop), agent/index.html, claim/index.html, css/, js/ and sdk/ (the JS SDK's build)."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # The handoff QR is the server's SVG, shown as a data: image rather than inserted as markup.
        "img-src 'self' data:",
        # CSP Level 3 lets 'self' match ws:/wss: on the page's own host, so the live stream needs nothing more.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _add_security_headers(response: ASGIApp) -> ASGIApp:
    """Every file answered (the static router's handlers return ASGIResponse) carries the CSP and its companions."""
    if isinstance(response, ASGIResponse):
        response.headers.update(SECURITY_HEADERS)
    return response


ROUTES = [
    create_static_files_router(
        path="/demo",
        directories=[STATIC_DIR],
        html_mode=True,
        name="demo",
        after_request=_add_security_headers,
        include_in_schema=False,
    )
]
