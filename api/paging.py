"""The paging headers of a list answered a page at a time (`GET /api/disputes`, `GET /api/registrations`).

The body stays the plain JSON list of the contract; beside it, `X-Total-Count` says how many the user may see
with the same filters, and an RFC 8288 `Link` header gives the next page (`rel="next"`, only while more remain)
and the one before (`rel="prev"`, past the first): the URL asked, with its `offset` (and `limit`) moved.
`api.schemas.PAGED` documents them.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from service.paging import Page


def page_headers(request: Request, response: Response, page: Page[Any]) -> None:
    response.headers["X-Total-Count"] = str(page.total)
    links = [f'<{request.url.include_query_params(limit=page.limit, offset=offset)}>; rel="{rel}"'
             for rel, offset in (("next", page.next_offset), ("prev", page.prev_offset)) if offset is not None]
    if links:
        response.headers["Link"] = ", ".join(links)
