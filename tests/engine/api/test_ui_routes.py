"""The web UI's files (engine.api.ui_routes, engine.ui): served open, cached by version and ETag,
under a strict Content-Security-Policy, and the files themselves kept to the rules the CSP
enforces (no inline script, no inline style, no eval) and to one module per concern."""

from __future__ import annotations

import asyncio
import gzip
import re

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api import ui_routes
from engine.auth.policy import required_role
from engine.auth.tokens import Role
from engine.ui.assets import load

MODULES = ("api", "state", "histogram", "results", "facets", "tail", "alerts", "search", "main")


def _client_run(body):
    async def main():
        app = web.Application()
        routes = ui_routes.install(app)
        async with TestClient(TestServer(app)) as client:
            return await body(client, routes.assets)

    return asyncio.run(main())


def test_index_and_files_with_cache_headers_and_csp():
    async def body(client, assets):
        r = await client.get("/")
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        assert r.headers["Cache-Control"] == "no-cache"
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "default-src 'none'" in csp and "unsafe" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert f"/ui/{assets.version}/main.js" in html and "{{VERSION}}" not in html
        r = await client.get("/", headers={"If-None-Match": r.headers["ETag"]})
        assert r.status == 304

        r = await client.get(f"/ui/{assets.version}/main.js")
        assert r.status == 200 and r.content_type == "text/javascript"
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        r = await client.get("/ui/0123456789ab/main.js")  # a page from before an upgrade
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
        css = f"/ui/{assets.version}/app.css"
        r = await client.get(css, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
        assert r.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await r.read()) == assets.files["app.css"].body
        for name in ("nope.js", "..%2Fassets.py", "index.html"):
            r = await client.get(f"/ui/{assets.version}/{name}")
            assert r.status == 404, name

    _client_run(body)


def test_the_files_hold_no_inline_script_or_style_and_say_their_job():
    assets = load()
    html = assets.index.body.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag  # no inline script
    assert not re.search(r"\son\w+=", html) and "style=" not in html and "<style" not in html
    for name in MODULES:
        text = assets.files[f"{name}.js"].body.decode()
        assert text.startswith("// "), f"{name}.js: a header comment saying its job"
        assert "innerHTML" not in text and "eval(" not in text and "new Function" not in text, name
        assert 'setAttribute("style"' not in text, name
        for imported in re.findall(r'from "\./([\w-]+\.js)"', text):
            assert imported in assets.files, f"{name}.js imports {imported}"


def test_the_ui_is_open_and_its_api_calls_are_not():
    assert required_role("GET", "/", False) is None
    assert required_role("HEAD", "/ui/{version}/{name}", False) is None
    assert required_role("GET", "/api/v1/context", False) is Role.QUERY
    assert required_role("POST", "/api/v1/silences", False) is Role.ADMIN
