"""`logjet tail 'QUERY'`: follow `/api/v1/tail` of a running engine and print each matching row
as it arrives (NDJSON, one line each, flushed) until Ctrl-C, which ends it with status 0; a
reader that goes away (`| head`) ends it quietly too."""

from __future__ import annotations

import argparse
import http.client
import os
import sys

import msgspec

from engine.query.cli_http import RequestFailed, fail, open_url

_decode = msgspec.json.Decoder().decode
DEFAULT_URL = "http://127.0.0.1:8080"


def run_tail(args: argparse.Namespace) -> int:
    args.url = args.url or os.environ.get("LOGJET_URL") or DEFAULT_URL
    out = sys.stdout.buffer
    try:
        with open_url(args, "/api/v1/tail", {"q": args.query}) as resp:
            for line in resp:
                if line.startswith(b'{"error"'):
                    error = _decode(line).get("error")
                    print(f"logjet: the tail ended: {error}", file=sys.stderr)
                    return 1
                out.write(line)
                out.flush()
    except RequestFailed as exc:
        return fail(exc)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # before ConnectionError, which it is: stdout's reader went away
        # Whatever is still buffered would fail again at exit: send it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (http.client.HTTPException, ConnectionError) as exc:
        print(f"logjet: the connection to {args.url} was lost: {exc}", file=sys.stderr)
        return 1
    return 0
