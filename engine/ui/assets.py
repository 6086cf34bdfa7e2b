"""The web UI's files, loaded once: bytes, gzip form, content type, ETag, and the version (a hash
of them all) that their URLs carry, so a browser may keep them forever and a new release is a
new URL. `index.html` names that version where it says `{{VERSION}}`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
from dataclasses import dataclass

INDEX = "index.html"
VERSION_MARK = b"{{VERSION}}"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str  # quoted, as sent


def _asset(name: str, body: bytes) -> Asset:
    kind = TYPES[name[name.rindex(".") :]]
    return Asset(body, gzip.compress(body, 9, mtime=0), kind, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


@dataclass(frozen=True)
class Assets:
    version: str
    index: Asset
    files: dict[str, Asset]  # by file name, index.html excluded


def load() -> Assets:
    """Every file of static/ with a known type (sub-folders are not served)."""
    folder = importlib.resources.files("engine.ui") / "static"
    raw = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and "." in entry.name and entry.name[entry.name.rindex(".") :] in TYPES
    }
    digest = hashlib.sha256()
    for name in sorted(raw):
        digest.update(name.encode() + b"\0" + raw[name] + b"\0")
    version = digest.hexdigest()[:12]
    index = _asset(INDEX, raw.pop(INDEX).replace(VERSION_MARK, version.encode()))
    return Assets(version, index, {name: _asset(name, body) for name, body in raw.items()})
