"""Reading an uploaded image: the size limit, the multipart body, the sniffed format, the decoder.

Everything an upload goes through before it reaches the model, each step refusing what it
cannot use with an `UploadError`: an HTTP status in the 4xx range and a one-line reason.
The body is read in memory, counted as it arrives and cut off at the limit, and never
written to disk (a multipart parser that spools large files to a temporary file is not
used). The format is read from the bytes, never from the file name or the declared
type, and the image's header size is checked before any pixel is decoded
(`keras_cxr.data.decode_image_bytes`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from keras_cxr.data.image_bytes import decode_image_bytes, image_header, sniff_format
from keras_cxr.data.image_header import MAX_DECODED_BYTES, MAX_IMAGE_PIXELS, size_problem
from keras_cxr.data.images import MIN_IMAGE_SIDE
from keras_cxr.data.prefetch import failure_reason
from keras_cxr.serve._extra import require

#: Largest upload accepted by default: 32 MiB, above an uncompressed 4,000 × 4,000
#: 16-bit DICOM radiograph.
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
#: Room for the multipart boundaries and part headers around the file, beyond its limit.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
#: Declared types of the file part that are accepted; the format itself is sniffed.
#: Browsers send `application/octet-stream` or nothing for `.dcm` files.
ACCEPTED_CONTENT_TYPES = (
    "image/jpeg",
    "image/pjpeg",
    "image/png",
    "application/dicom",
    "application/octet-stream",
    "",
)
#: The multipart field that holds the image.
FILE_FIELD = "file"


class UploadError(Exception):
    """An upload the server refuses: an HTTP status (4xx) and a one-line reason.

    Args:
        status: The HTTP status: 400 (malformed), 413 (too large), 415 (not an image
            type this server reads) or 422 (an image that cannot be decoded).
        reason: One sentence for the client, naming the problem and the fix.

    Returns:
        The exception; `str(error)` is `reason`.

    Raises:
        Nothing: a plain exception, raised by the readers below.

    Example:
        >>> error = keras_cxr.serve.UploadError(413, "The upload is too large.")
        >>> error.status, str(error)
        (413, 'The upload is too large.')
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = int(status)
        self.reason = reason


async def read_capped(
    chunks: AsyncIterator[bytes], max_bytes: int, declared_length: str | None = None
) -> bytes:
    """Reads a request body in memory, refusing it as soon as it passes `max_bytes`.

    A declared `Content-Length` above the limit is refused before anything is read; the
    chunks are counted as they come, so a body sent without a length (chunked) cannot
    pass the limit either.

    Args:
        chunks: The body, as the server streams it (`request.stream()` in Starlette).
        max_bytes: The most bytes accepted.
        declared_length: The request's `Content-Length` header, or None.

    Returns:
        The body.

    Raises:
        UploadError: 413 when the body is larger than `max_bytes`, 400 for a
            `Content-Length` that is not a number.

    Example:
        >>> body = await keras_cxr.serve.uploads.read_capped(request.stream(), 2**20)
    """
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            raise UploadError(400, "The Content-Length header is not a number.") from None
        if declared > max_bytes:
            raise _too_large(declared, max_bytes)
    parts, received = [], 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(received, max_bytes)
        parts.append(chunk)
    return b"".join(parts)


def parse_multipart(body: bytes, content_type: str | None, field: str = FILE_FIELD) -> tuple:
    """The bytes and declared type of one file field of a `multipart/form-data` body.

    Parsed in memory with python-multipart's streaming parser (no temporary files).

    Args:
        body: The whole request body.
        content_type: The request's `Content-Type` header (it carries the boundary).
        field: The field holding the file. Defaults to `"file"`.

    Returns:
        `(data, part_content_type)`: the file's bytes and the type its part declares
        (`""` when none, lower case, without parameters).

    Raises:
        UploadError: 415 when the body is not `multipart/form-data`, 400 when it is
            malformed or has no such field.

    Example:
        >>> data, declared = keras_cxr.serve.uploads.parse_multipart(body, header)
    """
    multipart = require("python_multipart.multipart")
    kind, options = multipart.parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        received = (content_type or "none").split(";")[0]
        raise UploadError(
            415,
            f"Expected a multipart/form-data body with the image in the field `{field}`; "
            f"received Content-Type: {received}.",
        )
    parts: list[dict] = []
    header: dict[str, bytearray] = {}

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header.setdefault("field", bytearray()).extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header.setdefault("value", bytearray()).extend(data[start:end])

    def on_header_end() -> None:
        name = bytes(header.pop("field", b"")).decode("latin-1").lower()
        parts[-1]["headers"][name] = bytes(header.pop("value", b""))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].extend(data[start:end])

    ended = []
    callbacks = {
        "on_end": lambda: ended.append(True),
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    }
    try:
        parser = multipart.MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except ValueError as error:  # python-multipart's parse errors are ValueErrors
        reason = f"The multipart body is malformed: {failure_reason(error)}"
        raise UploadError(400, reason) from None
    if body and not ended:
        raise UploadError(400, "The multipart body is malformed: its closing boundary is missing.")
    for part in parts:
        _, disposition = multipart.parse_options_header(part["headers"].get("content-disposition"))
        if disposition.get(b"name") == field.encode():
            declared, _ = multipart.parse_options_header(part["headers"].get("content-type"))
            return bytes(part["data"]), declared.decode("latin-1").lower()
    raise UploadError(400, f"The multipart body has no field `{field}`; send the image in it.")


def read_upload(
    data: bytes,
    content_type: str = "",
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    min_side: int = MIN_IMAGE_SIDE,
    max_bytes_decoded: int = MAX_DECODED_BYTES,
) -> np.ndarray:
    """Decodes an uploaded JPEG, PNG or DICOM image, refusing anything it cannot use.

    Args:
        data: The file's bytes.
        content_type: The type its part declares; one of `ACCEPTED_CONTENT_TYPES`
            (the format itself is read from the bytes). Defaults to `""`.
        max_bytes: The largest file accepted. Defaults to `DEFAULT_MAX_UPLOAD_BYTES`.
        max_pixels: The most pixels its header may claim. Defaults to
            `keras_cxr.data.MAX_IMAGE_PIXELS`.
        min_side: The smallest side accepted. Defaults to `keras_cxr.data.MIN_IMAGE_SIDE`.
        max_bytes_decoded: The most decoded bytes (pixels × channels × bytes per
            sample) its header may claim. Defaults to
            `keras_cxr.data.image_header.MAX_DECODED_BYTES`.

    Returns:
        uint8 RGB pixels `(H, W, 3)` at the file's own size, decoded as
        `keras_cxr.data.read_image` decodes files.

    Raises:
        UploadError: 400 for an empty file; 413 for a file over `max_bytes` or a header
            over `max_pixels` or `max_bytes_decoded`; 415 for a declared type not
            accepted, bytes that are not JPEG, PNG or DICOM, or DICOM without pydicom
            on the server; 422 for data that does not decode (truncated, corrupt, too
            small, no pixel data).

    Example:
        >>> image = keras_cxr.serve.read_upload(open("a.png", "rb").read(), "image/png")
        >>> image.dtype, image.shape[-1]
        (dtype('uint8'), 3)
    """
    if not data:
        raise UploadError(400, "The uploaded file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise UploadError(
            415,
            f"Unsupported file type {content_type!r}: send a JPEG, PNG or DICOM image "
            "(image/jpeg, image/png, application/dicom or application/octet-stream).",
        )
    kind = sniff_format(data)
    if kind is None:
        raise UploadError(
            415, "The file is not a JPEG, PNG or DICOM image (its first bytes match none)."
        )
    try:
        header = image_header(data)
    except ImportError as error:
        raise UploadError(415, failure_reason(error)) from None
    too_large = None if header is None else size_problem(header, max_pixels, max_bytes_decoded)
    if too_large is not None:
        raise UploadError(413, f"The image {too_large}.")
    try:
        return decode_image_bytes(
            data, "rgb", min_side=min_side, max_pixels=max_pixels, max_bytes=max_bytes_decoded
        )
    except (ValueError, RuntimeError) as error:
        raise UploadError(422, failure_reason(error)) from None


def _too_large(size: int, max_bytes: int) -> UploadError:
    return UploadError(
        413,
        f"The upload is {size:,} bytes, above this server's limit of {max_bytes:,} bytes.",
    )
