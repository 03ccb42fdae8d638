"""Every bad upload gets a 4xx with a one-line reason, and the server keeps serving."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from tests.data._files import png_bomb
from tests.data.test_dicom import dicom_dataset

from ._http import alive, post_image
from .conftest import MAX_UPLOAD_BYTES


def _jpeg(size: int = 64) -> bytes:
    image = np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8)
    return cv2.imencode(".jpeg", image)[1].tobytes()


def _dicom_without_pixels() -> bytes:
    buffer = io.BytesIO()
    dicom_dataset(None).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _bomb(tmp_path_factory, *header) -> bytes:
    header = header or (40_000, 40_000)
    return png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png", *header).read_bytes()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("random bytes", 415, "The file is not a JPEG, PNG or DICOM image"),
        ("truncated JPEG", 422, "The JPEG data is truncated (its end marker is missing)."),
        ("PNG bomb", 413, "The image header claims 40000 × 40000 pixels, above the 100,000,000"),
        (
            "16-bit RGB bomb",
            413,
            "The image header claims 10000 × 10000 pixels of 3 channels at 16 bits: "
            "600,000,000 bytes decoded, above the 300,000,000-byte budget",
        ),
        ("empty file", 400, "The uploaded file is empty (0 bytes)."),
        ("text/plain part", 415, "Unsupported file type 'text/plain'"),
        ("over the limit", 413, f"above this server's limit of {MAX_UPLOAD_BYTES:,} bytes"),
        ("DICOM without pixel data", 422, "The DICOM data has no pixel data"),
        ("a 16-pixel image", 422, "The image is 16×16 pixels; at least 32×32 is needed"),
    ],
)
def test_bad_file_is_refused_and_the_server_lives_on(
    client, tmp_path_factory, case, status, reason
):
    data, content_type = {
        "random bytes": lambda: (np.random.default_rng(1).bytes(5000), "image/png"),
        "truncated JPEG": lambda: (_jpeg()[:-600], "image/jpeg"),
        "PNG bomb": lambda: (_bomb(tmp_path_factory), "image/png"),
        "16-bit RGB bomb": lambda: (_bomb(tmp_path_factory, 10_000, 10_000, 16, 2), "image/png"),
        "empty file": lambda: (b"", "image/png"),
        "text/plain part": lambda: (_jpeg(), "text/plain"),
        "over the limit": lambda: (_jpeg() + bytes(MAX_UPLOAD_BYTES), "image/jpeg"),
        "DICOM without pixel data": lambda: (_dicom_without_pixels(), "application/dicom"),
        "a 16-pixel image": lambda: (_jpeg(16), "image/jpeg"),
    }[case]()
    response = post_image(client, data, content_type=content_type)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail
    assert alive(client)


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"", {}, 415, "Expected a multipart/form-data body"),
        (b"", {"content-type": "multipart/form-data; boundary=x"}, 400, "has no field `file`"),
        (
            b'{"image": 1}',
            {"content-type": "application/json"},
            415,
            "received Content-Type: application/json",
        ),
        (
            b"--x\r\nnonsense",
            {"content-type": "multipart/form-data; boundary=x"},
            400,
            "The multipart body is malformed",
        ),
    ],
    ids=["empty body", "empty multipart", "JSON body", "malformed multipart"],
)
def test_bad_body_is_refused_and_the_server_lives_on(client, body, headers, status, reason):
    response = client.post("/v1/explain", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert alive(client)


def test_a_chunked_body_is_cut_off_at_the_limit(client):
    def chunks():  # no Content-Length: the server has to count
        for _ in range(40):
            yield bytes(16 * 1024)

    response = client.post(
        "/v1/explain",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert "above this server's limit" in response.json()["detail"]
    assert alive(client)


def test_a_missing_file_field_is_named(client):
    response = client.post("/v1/explain", files={"image": ("a.jpeg", _jpeg(), "image/jpeg")})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "The multipart body has no field `file`; send the image in it."
    )
    assert alive(client)
