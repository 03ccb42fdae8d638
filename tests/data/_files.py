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


def png_bomb(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A valid-looking PNG whose header claims `width × height` grayscale pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # only a few rows actually present
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )
    return path


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
