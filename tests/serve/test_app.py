"""The HTTP API against a real uvicorn server: answers equal the offline explainer's."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.data import read_image
from keras_cxr.explain import BatchExplainer
from keras_cxr.serve.responses import IMAGES
from keras_cxr.viz import colorize
from tests.data.test_dicom import dicom_dataset, save

from ._http import post_image
from .conftest import SIZE, THRESHOLD


@pytest.fixture(scope="module")
def reference(server):
    """The server's own `BatchExplainer`, called here directly on the file as `read_image`
    reads it: what the server must answer. (Called only while no request is in flight.)"""
    explainer = server.app.state.service.explainer
    assert isinstance(explainer, BatchExplainer)
    return explainer


def _png(base64_text: str) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(base64_text), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _expected(reference, path) -> dict:
    out = reference({"image": read_image(path, "rgb", (SIZE, SIZE))[np.newaxis]})
    return {key: value[0] for key, value in out.items()}


def test_model_route_describes_the_model(client, reference):
    info = client.get("/v1/model").json()
    assert info["keras_cxr_version"] == keras_cxr.__version__
    assert info["backbones"] == ["b3", "b5"] == info["branches"]
    assert info["input_size"] == [SIZE, SIZE] and info["color_mode"] == "rgb"
    assert info["classes"] == ["NORMAL", "PNEUMONIA"]
    assert info["threshold"] == THRESHOLD and info["threshold_source"] == "model file"
    assert info["calibrated"] is False
    assert info["target_layers"] == reference.target_layers and info["method"] == "gradcam"
    assert info["uncertainty"] == {"available": True, "samples": 30, "reason": None}


def test_explain_answers_what_the_offline_explainer_gives(client, reference, phantom_pngs):
    path = phantom_pngs[0]
    response = post_image(client, path.read_bytes(), raw_size=8)
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = _expected(reference, path)
    assert answer["probability"] == pytest.approx(float(expected["probability"]), abs=1e-6)
    assert answer["decision"]["index"] == int(expected["decision"])
    assert answer["decision"]["label"] == ("PNEUMONIA", "NORMAL")[answer["probability"] < THRESHOLD]
    assert answer["threshold"] == THRESHOLD and answer["calibrated"] is False
    assert answer["score"] == pytest.approx(float(expected["score"]), abs=1e-5)
    assert answer["uncertainty"] is None
    assert answer["method"] == "gradcam" and answer["target_layers"] == reference.target_layers
    assert sorted(answer["heatmaps"]) == ["b3", "b5", "fused"]
    for name, key in [("fused", "heatmap"), ("b3", "heatmap/b3"), ("b5", "heatmap/b5")]:
        small = cv2.resize(expected[key], (8, 8), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(answer["heatmaps"][name]["raw"], small, atol=2e-4)
    # The PNGs: the upload itself at display size, and the fused map coloured on it.
    uploaded = read_image(path)
    assert np.array_equal(_png(answer["image"]["png"]), uploaded)
    assert (answer["image"]["width"], answer["image"]["height"]) == (96, 96)
    heat = cv2.resize(expected["heatmap"], (96, 96), interpolation=cv2.INTER_LINEAR)
    colours = colorize(np.clip(heat, 0, 1)[np.newaxis])[0].astype(int)
    assert np.abs(_png(answer["heatmaps"]["fused"]["colormap_png"]) - colours).mean() < 1.0
    blended = 0.6 * uploaded + 0.4 * colours
    assert np.abs(_png(answer["heatmaps"]["fused"]["overlay_png"]) - blended).mean() < 1.0
    timings = answer["timings_ms"]
    assert timings["total"] >= timings["explain"] > 0 and answer["batch_size"] >= 1


def test_dicom_and_misnamed_files_are_read_from_their_bytes(client, reference, tmp_path):
    pixels = np.tile(np.linspace(0, 4000, 64).astype(np.uint16), (48, 1))
    dicom = save(dicom_dataset(pixels), tmp_path / "scan.dcm")
    answer = post_image(client, dicom.read_bytes(), "scan.bin", "application/octet-stream")
    assert answer.status_code == 200, answer.text
    expected = _expected(reference, dicom)
    assert answer.json()["probability"] == pytest.approx(float(expected["probability"]), abs=1e-6)
    png = tmp_path / "image.png"
    cv2.imwrite(str(png), (pixels // 16).astype(np.uint8))
    misnamed = post_image(client, png.read_bytes(), "scan.dcm", "application/dicom")
    assert misnamed.status_code == 200, misnamed.text


def test_fewer_images_on_request(client, phantom_pngs):
    data = phantom_pngs[2].read_bytes()
    full = post_image(client, data).json()
    colormaps = post_image(client, data, images="colormaps").json()
    bare = post_image(client, data, images="none", raw_size=2).json()
    for name in ("fused", "b3", "b5"):
        assert set(colormaps["heatmaps"][name]) == {"colormap_png"}
        assert colormaps["heatmaps"][name]["colormap_png"] == full["heatmaps"][name]["colormap_png"]
        assert set(bare["heatmaps"][name]) == {"raw"}
    assert colormaps["image"] == full["image"]
    assert bare["image"] == {"width": 96, "height": 96}
    assert bare["probability"] == full["probability"]
    assert post_image(client, data, images="all").status_code == 422


def test_uncertainty_on_request(client, phantom_pngs):
    answer = post_image(client, phantom_pngs[1].read_bytes(), uncertainty="true").json()
    spread = answer["uncertainty"]
    assert spread["samples"] == 30 and spread["calibrated"] is False
    assert 0 < spread["std"] < 0.5  # the head's dropout (rate 0.5) moves the prediction
    low, high = spread["interval"]
    assert 0 <= low <= spread["mean"] <= high <= 1
    assert abs(spread["mean"] - answer["probability"]) < 0.25


def test_micro_batching_gathers_concurrent_requests(client, server, phantom_pngs):
    import httpx

    uploads = [path.read_bytes() for path in phantom_pngs] * 2
    before = client.get("/healthz").json()
    start = threading.Barrier(len(uploads))
    answers = [None] * len(uploads)

    def send(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60.0) as own:
            start.wait()
            answers[index] = post_image(own, uploads[index], raw_size=4).json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(uploads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = client.get("/healthz").json()
    assert after["explained_images"] - before["explained_images"] == len(uploads)
    assert after["explain_calls"] - before["explain_calls"] < len(uploads)
    assert max(answer["batch_size"] for answer in answers) > 1
    for data, batched in zip(uploads, answers):
        alone = post_image(client, data, raw_size=4).json()
        assert alone["batch_size"] == 1
        assert alone["decision"] == batched["decision"]
        assert batched["probability"] == pytest.approx(alone["probability"], abs=1e-6)
        for name in ("fused", "b3", "b5"):
            np.testing.assert_allclose(
                batched["heatmaps"][name]["raw"], alone["heatmaps"][name]["raw"], atol=2e-4
            )


def test_openapi_document_and_routes(client):
    document = client.get("/openapi.json").json()
    explain = document["paths"]["/v1/explain"]["post"]
    body = explain["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    parameters = {parameter["name"] for parameter in explain["parameters"]}
    assert parameters == {"uncertainty", "raw_size", "images"}
    images = next(p for p in explain["parameters"] if p["name"] == "images")
    assert images["schema"]["enum"] == list(IMAGES)
    assert {"/v1/model", "/healthz"} <= set(document["paths"])
    assert "/" not in document["paths"]
    assert client.get("/docs").status_code == 404  # it would load scripts from a CDN


def test_viewer_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/viewer.js"' in page.text
    script = client.get("/static/viewer.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/v1/explain" in script.text
    assert client.get("/static/missing.js").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/..%2F..%2F..%2Fpyproject.toml",
        "/static/%2e%2e%2f%2e%2e%2fserve%2fapp.py",
        "/static/viewer.js/../../app.py",
        "/../../../../etc/passwd",
        "/static//etc/passwd",
        "/static/%00viewer.js",
    ],
)
def test_no_path_leaves_the_static_folder(server, path):
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("GET", path)  # sent as written: no client-side normalisation
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    connection.close()
    assert response.status == 404, (path, response.status)
    assert "import" not in body and "root:" not in body and "[project]" not in body
    assert json.loads(body)["detail"]


def test_answers_are_not_cached_and_not_sniffed(client, phantom_pngs):
    response = post_image(client, phantom_pngs[2].read_bytes())
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_raw_size_out_of_range_is_a_one_line_422(client, phantom_pngs):
    response = post_image(client, phantom_pngs[0].read_bytes(), raw_size=65)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid request: raw_size: Input should be less than or equal to 64."
    }
