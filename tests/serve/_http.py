"""Requests the serve tests send."""

from __future__ import annotations


def post_image(client, data: bytes, name="image.png", content_type="image/png", **params):
    """POSTs `data` as the multipart field `file` to /v1/explain."""
    return client.post("/v1/explain", params=params, files={"file": (name, data, content_type)})


def alive(client) -> bool:
    """Whether the server still answers /healthz."""
    return client.get("/healthz").json()["status"] == "ok"
