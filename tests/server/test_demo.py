"""The browser demo at /demo: pages, assets and the JS SDK served as static files under a strict CSP."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from omnicart_server.demo.routes import CONTENT_SECURITY_POLICY
from tests.support.devices import describe
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess

PAGES = ("/demo", "/demo/", "/demo/agent", "/demo/claim")
ASSET = re.compile(r"""(?:src|href)="(/demo/[^"]+)\"""")
IMPORT = re.compile(r"""(?:from|import)\s*["']([^"']+\.js)["']""")


def _get(server: ServerProcess, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=30.0)


@pytest.mark.parametrize("path", PAGES)
def test_demo_page_is_html_under_the_csp(server: ServerProcess, path: str) -> None:
    """Each demo page answers 200 text/html with the Content-Security-Policy that forbids inline scripts."""
    response = _get(server, path)
    assert response.status_code == 200, describe(response)
    assert response.headers["content-type"].startswith("text/html"), describe(response)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", PAGES[1:])
def test_demo_page_has_no_inline_script(server: ServerProcess, path: str) -> None:
    """Every <script> of a page loads a file and no element has an on* handler: the CSP would block them."""
    html = _get(server, path).text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert scripts, f"{path} has no script"
    assert all(body.strip() == "" for body in scripts), f"{path} has an inline script"
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), f"{path} has an inline event handler"


@pytest.mark.parametrize("path", PAGES[1:])
def test_every_asset_a_page_names_is_served(server: ServerProcess, path: str) -> None:
    """Stylesheets and modules a page names, and the modules they import, all answer 200."""
    seen: set[str] = set()
    todo = ASSET.findall(_get(server, path).text)
    while todo:
        asset = todo.pop()
        if asset in seen:
            continue
        seen.add(asset)
        response = _get(server, asset)
        assert response.status_code == 200, f"{path} names {asset}: {describe(response)}"
        if asset.endswith(".js"):
            todo += [urljoin(asset, module) for module in IMPORT.findall(response.text)]
    assert any(asset.endswith(".css") for asset in seen) and any(asset.endswith(".js") for asset in seen), seen


def test_sdk_is_served_as_javascript(server: ServerProcess) -> None:
    """/demo/sdk/index.js, the JS SDK's build the pages import, is served with a JavaScript content type."""
    response = _get(server, "/demo/sdk/index.js")
    assert response.status_code == 200, describe(response)
    assert response.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert "export" in response.text


@pytest.mark.parametrize("path", ["/demo/no-such-file.js", "/demo/agent/missing.html", "/demo/../pyproject.toml"])
def test_missing_demo_file_is_a_problem(server: ServerProcess, path: str) -> None:
    """A file the demo does not have (or one outside its folder) is 404 problem+json, like any unknown route."""
    assert_problem(_get(server, path), 404, "not_found")


def test_demo_is_not_in_the_openapi_schema(server: ServerProcess) -> None:
    """The static demo is not part of the API: /schema/openapi.json lists no /demo path."""
    paths = _get(server, "/schema/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/demo")]


def test_dev_server_says_where_the_demo_is(server: ServerProcess) -> None:
    """`omnicart serve --dev` logs the demo's address, so a newcomer knows where to look."""
    assert f"demo shop at {server.url}/demo" in server.log_text()
