"""HTTP responses of the plugin: JSON bodies, JSON errors, raw bytes, static files.

TensorBoard's own error classes answer in plain text; the tab (and scripts)
get ``{"error": "..."}`` with a 4xx status instead.
"""

import os

import werkzeug
from werkzeug import security

from tensorboard.backend import http_util

# Explicit, because ``mimetypes`` reads the system's tables and some map .js to
# text/plain, which browsers refuse for ES modules.
STATIC_MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
}


def json_response(request, payload, code=200):
    """A JSON response of ``payload`` (dict or list) with TensorBoard's usual headers."""
    return http_util.Respond(request, payload, "application/json", code=code)


def error_response(request, code, message):
    """``{"error": message}`` with status ``code`` (400 bad parameter, 404 unknown thing)."""
    return json_response(request, {"error": message}, code=code)


# WSGI servers want bytes; slices of this size are copied from a large
# buffer one at a time, instead of one copy of the whole body.
_CHUNK_BYTES = 256 * 1024


def _chunks(parts):
    for part in parts:
        view = memoryview(part).cast("B")
        if isinstance(part, bytes) and len(view) <= _CHUNK_BYTES:
            yield part
            continue
        for start in range(0, len(view), _CHUNK_BYTES):
            yield bytes(view[start : start + _CHUNK_BYTES])


def bytes_response(body, mimetype):
    """An uncompressed response of already-encoded ``body``: bytes, or a list
    of bytes-like parts sent one after the other (no joined copy).

    Unlike ``http_util.Respond`` this never gzips: the heatmap bodies are large
    and cached, and compressing them on every request would cost more than
    sending them over the loopback or LAN TensorBoard usually serves.
    """
    parts = [body] if isinstance(body, (bytes, bytearray)) else list(body)
    return werkzeug.Response(
        _chunks(parts),
        mimetype=mimetype,
        direct_passthrough=True,
        headers=[
            ("Content-Length", str(sum(memoryview(p).nbytes for p in parts))),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-cache, must-revalidate"),
            ("Expires", "0"),
        ],
    )


def static_file_response(request, folder, relative_path):
    """Serves ``relative_path`` from ``folder``, or a 404 JSON error.

    ``werkzeug.security.safe_join`` refuses ``..``, absolute paths and
    Windows separators, so nothing outside ``folder`` can be read.
    """
    path = security.safe_join(folder, relative_path) if relative_path else None
    if path is None or not os.path.isfile(path):
        return error_response(request, 404, "static file %r not found" % (relative_path,))
    mimetype = STATIC_MIME_TYPES.get(os.path.splitext(path)[1].lower())
    if mimetype is None:
        return error_response(request, 404, "static file %r has a type this plugin does not serve" % (relative_path,))
    with open(path, "rb") as f:
        content = f.read()
    return http_util.Respond(request, content, mimetype)
