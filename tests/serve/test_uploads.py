"""Upload reading without a server: the size cap, the multipart parser, the statuses."""

from __future__ import annotations

import asyncio

import cv2
import httpx
import numpy as np
import pytest

from keras_cxr.data import read_image
from keras_cxr.serve import UploadError, read_upload
from keras_cxr.serve.uploads import parse_multipart, read_capped


def _multipart(fields: dict) -> tuple[bytes, str]:
    """A body and its Content-Type, encoded by httpx as a client sends them."""
    request = httpx.Request("POST", "http://x/", files=fields)
    return request.read(), request.headers["content-type"]


async def _stream(chunks):
    for chunk in chunks:
        yield chunk


def test_read_capped_counts_the_chunks_and_checks_the_declared_length():
    body = asyncio.run(read_capped(_stream([b"ab", b"cd"]), max_bytes=4))
    assert body == b"abcd"
    with pytest.raises(UploadError, match="is 6 bytes, above this server's limit of 4") as error:
        asyncio.run(read_capped(_stream([b"abc", b"def"]), max_bytes=4))
    assert error.value.status == 413
    with pytest.raises(UploadError, match="is 10 bytes") as error:
        asyncio.run(read_capped(_stream([]), max_bytes=4, declared_length="10"))
    with pytest.raises(UploadError, match="Content-Length header is not a number"):
        asyncio.run(read_capped(_stream([]), max_bytes=4, declared_length="ten"))


def test_parse_multipart_finds_the_file_field_among_others():
    body, content_type = _multipart(
        {"note": (None, b"hello"), "file": ("x.png", b"\x89PNG...", "image/PNG")}
    )
    assert parse_multipart(body, content_type) == (b"\x89PNG...", "image/png")
    without_type = body.replace(b"Content-Type: image/PNG\r\n", b"")
    assert parse_multipart(without_type, content_type) == (b"\x89PNG...", "")
    with pytest.raises(UploadError, match="no field `scan`") as error:
        parse_multipart(body, content_type, field="scan")
    assert error.value.status == 400


def test_read_upload_decodes_like_read_image_and_sorts_the_refusals(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8))
    data = path.read_bytes()
    assert np.array_equal(read_upload(data, "image/png"), read_image(path))
    refusals = {
        413: lambda: read_upload(data, "image/png", max_bytes=100),
        415: lambda: read_upload(data, "application/json"),
        422: lambda: read_upload(data[:-30], "image/png"),
        400: lambda: read_upload(b""),
    }
    for status, refuse in refusals.items():
        with pytest.raises(UploadError) as error:
            refuse()
        assert error.value.status == status
    with pytest.raises(UploadError, match="claims 50 × 40 pixels, above the 1,000-pixel limit"):
        read_upload(data, max_pixels=1000)
