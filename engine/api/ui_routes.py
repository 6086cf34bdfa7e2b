"""The web UI's files on the HTTP port: `GET /` (the page) and `GET /ui/{version}/{name}`.

The files hold no data, so these routes are open (engine.auth.policy); every API call the page
makes is checked like any other. Caching: `/` is revalidated on every load (ETag, 304), and the
files it names carry the version of the whole set in their path, so they are cached for a year
(`immutable`); a request for another version (a page loaded before an upgrade) gets today's
file, revalidated. A strict Content-Security-Policy allows only this origin's scripts, styles,
images and API calls: no inline script, no eval, no frames.
"""

from __future__ import annotations

from aiohttp import web

from engine.ui.assets import Asset, Assets, load

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
REVALIDATE = "no-cache"
FOREVER = "public, max-age=31536000, immutable"


def _send(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=asset.gzipped, headers=headers)
    return web.Response(body=asset.body, headers=headers)


class UiRoutes:
    def __init__(self, assets: Assets):
        self.assets = assets

    async def index(self, request: web.Request) -> web.Response:
        return _send(request, self.assets.index, REVALIDATE)

    async def file(self, request: web.Request) -> web.Response:
        asset = self.assets.files.get(request.match_info["name"])
        if asset is None:
            return web.json_response({"error": "no such file of the web UI", "position": None}, status=404)
        same = request.match_info["version"] == self.assets.version
        return _send(request, asset, FOREVER if same else REVALIDATE)


def install(app: web.Application) -> UiRoutes:
    """Add the UI routes to the API app (called by engine.api.worker.build_app)."""
    routes = UiRoutes(load())
    app.router.add_get("/", routes.index)
    app.router.add_get("/ui/{version}/{name}", routes.file)
    return routes
