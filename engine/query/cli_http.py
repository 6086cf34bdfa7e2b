"""The HTTP side of the query commands (`logjet query --url`, `--context`, `logjet tail`): one
request to a running engine with the token and CA file the user gave, and its errors as one
line on stderr."""

from __future__ import annotations

import argparse
import http.client
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

from engine.errors import LogjetError


class RequestFailed(LogjetError):
    """The engine refused the request or could not be reached; the message says which."""


def open_url(args: argparse.Namespace, path: str, params: dict[str, str]) -> http.client.HTTPResponse:
    """GET `path` on `args.url` with `params`; raises RequestFailed with what went wrong."""
    url = args.url.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url)
    token = args.token or os.environ.get("LOGJET_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    try:
        resp: http.client.HTTPResponse = urllib.request.urlopen(request, context=context)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace").strip()
        raise RequestFailed(f"{path} failed ({exc.code}): {body}") from None
    except urllib.error.URLError as exc:
        raise RequestFailed(f"cannot reach {args.url}: {exc.reason}") from None
    return resp


def fail(exc: Exception) -> int:
    print(f"logjet: {exc}", file=sys.stderr)
    return 1
