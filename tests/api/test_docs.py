"""/docs works offline: Swagger UI's page references only assets that Parley serves itself, under a
Content-Security-Policy that allows exactly its one inline script (tests/web/test_browser.py renders it
in Chromium)."""

from __future__ import annotations

import base64
import hashlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.app import create_app
from settings import Settings

with warnings.catch_warnings():  # starlette would rather have httpx2; with httpx it works the same
    warnings.filterwarnings("ignore", message=".*install `httpx2` instead", category=UserWarning)
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # Neither the store nor Temporal is needed for the docs: no lifespan, nothing listening.
    settings = Settings(data_dir=tmp_path_factory.mktemp("var"), temporal_address="127.0.0.1:1")
    yield TestClient(create_app(settings))


def referenced_urls(html: str) -> list[str]:
    """Every URL the page makes the browser load: script/link/img sources and the spec Swagger UI fetches."""
    attributes = re.findall(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", html)
    spec = re.findall(r"""\burl:\s*["']([^"']+)["']""", html)
    return attributes + spec


def test_docs_references_only_assets_that_parley_serves(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in page.text
    urls = referenced_urls(page.text)
    assert len(urls) >= 4, urls  # the JS bundle, the CSS, the favicon, the OpenAPI document
    assert not re.search(r"https?://|cdn\.", page.text), "the page names an off-site address"
    kinds: dict[str, str] = {}
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not on Parley"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, f"{url}: {len(asset.content)} bytes"
        kinds[url] = asset.headers["content-type"]
    assert any("javascript" in kind for kind in kinds.values()), kinds
    assert any(kind.startswith("text/css") for kind in kinds.values()), kinds
    assert any(kind.startswith("image/") for kind in kinds.values()), kinds
    assert kinds.get("/openapi.json", "").startswith("application/json"), kinds
    bundle = client.get("/static-docs/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle


def test_the_docs_page_allows_only_its_own_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    csp = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert "unsafe-eval" not in page.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert csp["script-src"] == f"'self' 'sha256-{digest}'"
    assert '"validatorUrl": null' in page.text  # no badge image from the public validator service


def test_fastapis_cdn_pages_are_gone(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404  # it would load its script from a CDN
    assert client.get("/docs/oauth2-redirect").status_code == 404  # Parley uses bearer tokens, not OAuth2
