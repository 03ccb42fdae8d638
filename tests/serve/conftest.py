"""One server for the whole tests/serve package: a tiny saved model behind uvicorn on loopback.

Loading, compiling and warming the model up is most of a server's start-up, so every test
module of the package shares the one started here (package scope), and the tests that
need other settings (a smaller upload limit) use them through the same server.
"""

from __future__ import annotations

import math

import cv2
import pytest

from tests.conftest import TINY_SIZE, make_two_branch_ensemble

pytest.importorskip("fastapi", reason='the serve extra is not installed: pip install ".[serve]"')
pytest.importorskip("uvicorn", reason='the serve extra is not installed: pip install ".[serve]"')
httpx = pytest.importorskip("httpx", reason="httpx is not installed (the test extra)")

#: Side of the images the served model takes.
SIZE = TINY_SIZE
#: The served model's decision threshold, stored in its file.
THRESHOLD = 0.4809
#: The upload limit of the test server, small so that a body over it is cheap to send.
MAX_UPLOAD_BYTES = 256 * 1024
#: How long the test server waits to gather a batch: long enough that concurrent test
#: requests meet, short enough that a lone request is not slowed much.
MAX_WAIT_MS = 40.0


@pytest.fixture(scope="package")
def model_file(tmp_path_factory):
    """`make_two_branch_ensemble()` (32 px, dropout 0.5) saved with a threshold."""
    from keras_cxr.models import save_model

    model = make_two_branch_ensemble()
    path = tmp_path_factory.mktemp("served") / "model.keras"
    return save_model(model, path, {"threshold": THRESHOLD})


@pytest.fixture(scope="package")
def server(model_file):
    """The running server (a `keras_cxr.serve.BackgroundServer`); stopped after the package."""
    from keras_cxr.serve import BackgroundServer, RequestLimits, create_app

    # No admission control (an infinite wait budget): the tests that send requests at
    # once expect them all answered, whatever the machine's speed; test_admission_control.py
    # swaps in its own.
    limits = RequestLimits(max_queue_wait=math.inf)
    app = create_app(
        model_file,
        max_wait_ms=MAX_WAIT_MS,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_batch_size=8,
        limits=limits,
    )
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture
def admission(server):
    """Swaps the server's admission control for the one a test sets (`admission(control)`)
    and puts the real one back after the test (monkeypatch would delete the attribute:
    starlette's `State` hides it from the check monkeypatch makes)."""
    state = server.app.state
    real = state.admission

    def swap(control):
        state.admission = control
        return control

    yield swap
    state.admission = real


@pytest.fixture(scope="package")
def client(server):
    """An httpx client of the server."""
    with httpx.Client(base_url=server.url, timeout=60.0) as session:
        yield session


@pytest.fixture(scope="package")
def phantom_pngs(tmp_path_factory):
    """Four 96-pixel phantom radiographs (two with pneumonia) written as PNG files."""
    from keras_cxr.data.synthetic import make_phantoms

    folder = tmp_path_factory.mktemp("uploads")
    phantoms = make_phantoms(4, image_size=96, seed=5)
    paths = []
    for index, image in enumerate(phantoms.images):
        path = folder / f"phantom_{index}.png"
        cv2.imwrite(str(path), image[..., 0])
        paths.append(path)
    return paths


@pytest.fixture(scope="package")
def explained_run(model_file, tmp_path_factory):
    """The served model's run over 18 labelled phantoms and one unlabelled PNG: overlays and
    heatmaps saved, 8 images a shard (3 results parts). Read only: copy it to change it."""
    from keras_cxr.data.synthetic import make_phantoms, write_chest_xray
    from keras_cxr.scale import explain_folder

    root = tmp_path_factory.mktemp("run")
    archive = write_chest_xray(root / "chest_xray", n_train=12, n_test=6, image_size=40, seed=3)
    loose = root / "loose.png"
    cv2.imwrite(str(loose), make_phantoms(1, image_size=40, seed=9).images[0][..., 0])
    out = root / "explained"
    explain_folder(model_file, [archive, loose], out, save="both", shard_size=8, batch_size=8,
                   progress=False)  # fmt: skip
    return out
