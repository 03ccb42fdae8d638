"""Helpers that write small test files; every test makes its own in tmp_path."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, image: np.ndarray, **params: int) -> Path:
    """Writes an image with OpenCV (BGR channel order), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = [item for pair in params.items() for item in pair]
    ok, encoded = cv2.imencode(path.suffix, image, flags)
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def gray_jpeg(path: Path, value: int = 128, size: tuple[int, int] = (24, 32)) -> Path:
    return write_image(path, np.full(size, value, np.uint8))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bomb(
    path: Path, width: int = 20_000, height: int = 20_000, depth: int = 8, color_type: int = 0
) -> Path:
    """A valid-looking PNG whose header claims `width × height` pixels (gray 8-bit unless
    `depth` / `color_type` say otherwise); only a few rows are present."""
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # only a few rows actually present
    return _write_png(path, header, rows)


def jpeg_bomb(path: Path) -> Path:
    """A small JPEG whose frame header is patched to claim 65,000 × 65,000 pixels."""
    data = bytearray(cv2.imencode(".jpeg", np.zeros((16, 16), np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file and a marker for every folder under `root`, hidden ones too."""
    digest = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        digest[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def touch(root: Path, *relative_paths: str) -> None:
    """Creates empty files (enough for indexing, which never opens them)."""
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def zero_png(path: Path, width: int, height: int, depth: int = 8, color_type: int = 0) -> Path:
    """A complete, valid black PNG of any size, compressed row by row (never held whole).

    `color_type` 0 is gray, 2 RGB; `depth` 8 or 16. A 12,000 × 12,000 gray one is about
    140 kB on disk and decodes to 144 MB.
    """
    channels = {0: 1, 2: 3}[color_type]
    row = b"\x00" * (1 + width * channels * depth // 8)  # filter byte, then the samples
    compressor = zlib.compressobj(9)
    rows = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return _write_png(path, header, rows)


def _write_png(path: Path, header: bytes, rows: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )
    return path
