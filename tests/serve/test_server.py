"""Where the server listens: loopback by default, a warning anywhere else."""

from __future__ import annotations

import warnings

import pytest

from keras_cxr.serve import is_loopback
from keras_cxr.serve.server import DEFAULT_HOST, warn_if_exposed


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_only_an_exposed_address_warns():
    assert is_loopback(DEFAULT_HOST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_exposed(DEFAULT_HOST, 8000)
    with pytest.warns(UserWarning, match=r"Serving on 0\.0\.0\.0:8000, reachable from other"):
        warn_if_exposed("0.0.0.0", 8000)
