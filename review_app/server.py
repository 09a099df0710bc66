"""The ASGI entry `msm review` serves: the review app (app.py) as a Streamlit `App`, minus the metrics endpoint.

Streamlit always mounts `/_stcore/metrics`, unauthenticated, with no option to turn it off; it tells anyone who
can reach the port how many sessions are open and how much memory caches hold. Run as an `App` (what
`streamlit run` does when a script defines one), the server takes ASGI middleware, and this one answers 404 for
that path before Streamlit sees the request. The rest of the server — port, address, secrets file, OIDC routes,
websocket — is Streamlit's own, configured by the same command-line options.
"""

from __future__ import annotations

from pathlib import Path

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from streamlit.starlette import App

BLOCKED_SUFFIX = "/_stcore/metrics"


class NoMetricsMiddleware:
    """404 for `/_stcore/metrics` (any base path, any method), everything else passed through unchanged."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").rstrip("/").endswith(BLOCKED_SUFFIX):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


app = App(Path(__file__).with_name("app.py"), middleware=[Middleware(NoMetricsMiddleware)])
