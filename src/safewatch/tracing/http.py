"""Request-body helpers shared by the ingestion routes: size limit, gzip, JSON."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from fastapi import HTTPException, Request


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when `Content-Encoding: gzip`; 413 beyond `limit` bytes either way."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip"):
        try:
            # max_length guards against a small gzip bomb expanding past the limit.
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = d.decompress(body, limit + 1)
            if len(body) > limit or d.unconsumed_tail:
                raise HTTPException(413, f"decompressed body larger than {limit} bytes")
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise HTTPException(400, f"invalid gzip body: {exc}") from exc
    elif encoding not in ("", "identity"):
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}")
    return body


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"Invalid request data: body is not valid JSON ({exc})") from exc
