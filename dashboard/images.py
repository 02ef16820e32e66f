"""The Flask route `/image/<sample_id>`: a sample's exact image bytes from its shard.

The id is looked up in the cache's samples table (an exact dictionary match); the bytes
are read at the recorded tar offset and size. Anything that is not a known sample id is
a 404, so nothing the client sends ever becomes a filesystem path.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from flask import Flask, Response, abort, request

from cache import CacheError, CacheReader

CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "gif": "image/gif", "bmp": "image/bmp"}
ROUTE = "/image/"


def image_url(sample_id: str) -> str:
    """The URL of a sample's image (each path segment percent-encoded)."""
    return ROUTE + quote(sample_id, safe="/")


def register_image_route(server: Flask, reader: CacheReader) -> None:
    """Add GET /image/<sample_id> to `server`, serving images of the cache `reader` reads."""

    @server.before_request
    def only_sample_ids_under_image():
        # Dash answers unknown paths with its page; under /image/ anything not routed here
        # (an empty id, a leading slash, a redirect for doubled slashes) is simply not found.
        if request.path.startswith(ROUTE) and request.endpoint != "sample_image":
            abort(404)

    @server.route(ROUTE + "<path:sample_id>", methods=["GET", "HEAD"])
    def sample_image(sample_id: str):
        location = reader.image_location(sample_id)
        if location is None:
            abort(404)
        try:
            found = reader.read_image_bytes(sample_id)
        except (OSError, CacheError):
            abort(404)
        if found is None:
            abort(404)
        data, fmt = found
        path, offset, size, _ = location
        response = Response(data, mimetype=CONTENT_TYPES.get(fmt.lower(), "application/octet-stream"))
        # The bytes of a sample id change only if its shard is rebuilt: tag them by location.
        response.set_etag(hashlib.sha1(f"{path}:{offset}:{size}".encode()).hexdigest())
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response.make_conditional(request)
