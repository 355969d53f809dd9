"""`405 Method Not Allowed` names every method of the path, as HTTP and the OpenAPI document say.

Starlette answers 405 from the first route whose path matches, so `OPTIONS /api/disputes` said
`Allow: POST` although the same path also takes GET (FastAPI registers one route per method).
This middleware rewrites the header of a 405 with the methods of every route on that path.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def methods_of(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route answers at the path of `scope` (asked of each route as Starlette's
    router asks it, so routers included in routers count too)."""
    return [method for method in METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)]


class AllowHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = methods_of(getattr(scope.get("app"), "routes", []), scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", ", ".join(methods).encode())]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
