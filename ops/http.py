"""Each HTTP request gets an id and is counted and timed by its route *template* (`/api/disputes/{dispute_id}`,
never the raw path: the label's values are bounded by the routes, whatever paths clients send).

The id is the client's `X-Request-ID` when it is a plausible one, a new one otherwise; it is sent back in
`X-Request-ID`, bound for the log lines (`ops.logs`) and kept in the scope for the last-resort error handler.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops.logs import CURRENT_REQUEST, RequestContext

REQUEST_ID_KEY = "parley.request_id"
UNMATCHED = "unmatched"  # a path no route serves (a 404): one label value for all of them
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

HTTP_REQUESTS = Counter("parley_http_requests", "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("parley_http_request_duration_seconds",
                         "Time to answer an HTTP request, by method and route template (Slack's routes: the ack)",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0))


class ObservedRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex[:16]
        scope[REQUEST_ID_KEY] = request_id
        bound = CURRENT_REQUEST.set(RequestContext(request_id, scope))
        status = 500  # unless a response starts: the error handler outside answers 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        # (after a failure the request stays bound: the error handler outside logs with its id)
        CURRENT_REQUEST.reset(bound)


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that served the request; routing records it in the scope."""
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        return template
    mount = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))):]
    return f"{mount}/{{path}}" if mount else UNMATCHED  # a mounted app (static files) has no route of its own


def request_id_of(scope: MutableMapping[str, Any]) -> str | None:
    found = scope.get(REQUEST_ID_KEY)
    return found if isinstance(found, str) else None


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _PLAUSIBLE_ID.fullmatch(text) else None
    return None
