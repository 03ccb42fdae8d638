"""`keras-cxr evaluate-explanations`: scores read back against the metrics called directly,
and every bad input refused before the model is loaded."""

from __future__ import annotations

import csv
import re

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import build_parser, main
from keras_cxr.cli.evaluate_explanations import DEFAULT_METHODS, DEFAULT_METRICS, METRIC_NAMES
from keras_cxr.data.synthetic import make_phantoms

from ._helpers import error_line

#: Phantoms at the demo model's 32 px: masks need no resizing, so the direct call below
#: reads the generator's own masks, not the command's reading of the PNGs.
SIZE = 32


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    """Eight phantoms as PNGs, their lesion masks as PNGs and as boxes, in a fresh folder.

    The boxes are each lesion mask's bounding box; p0 gets a second box line, and the
    normals a no-finding line, as RSNA writes them; names with and without an extension.
    """
    root = tmp_path_factory.mktemp("evalx")
    made = make_phantoms(8, SIZE, seed=5)
    (root / "scans").mkdir()
    (root / "masks").mkdir()
    lines = ["patientId,x,y,width,height,Target"]
    for index, (image, mask) in enumerate(zip(made.images, made.lesion_masks)):
        cv2.imwrite(str(root / "scans" / f"p{index}.png"), image[..., 0])
        if mask.any():
            cv2.imwrite(str(root / "masks" / f"p{index}.png"), mask.astype(np.uint8) * 255)
            rows, cols = np.nonzero(mask)
            top, left = rows.min(), cols.min()
            height, width = rows.max() - top + 1, cols.max() - left + 1
            lines.append(f"p{index}.dcm,{left},{top},{width},{height},1")
        else:
            lines.append(f"p{index},,,,,0")
    lines.append("p0,0,0,2,2,1")  # a second box of one image
    (root / "boxes.csv").write_text("\n".join(lines) + "\n")
    return root, made


def _run(demo, root, out, *arguments: str) -> int:
    return main(["evaluate-explanations", "--model", str(demo / "model.keras"), "--data",
                 str(root / "scans"), "--out", str(out), "--quiet", "--bootstrap", "50",
                 *arguments])  # fmt: skip


def _table(path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as file:
        return {(row["method"], row["metric"]): row for row in csv.DictReader(file)}


def _library_maps(demo, root, method: str):
    """The image paths in the command's order, and the method's maps through the library."""
    model = keras_cxr.load_model(demo / "model.keras", compile=False)
    paths = sorted((root / "scans").glob("*.png"))
    mode = "grayscale" if model.input_shape[-1] == 1 else "rgb"
    images = keras_cxr.data.read_images(paths, SIZE, mode)
    explainer = keras_cxr.explain.get_method(method)(model)
    return paths, explainer.explain(images, class_index=1).heatmaps


def test_masks_give_the_metrics_values_called_directly(demo, phantoms, tmp_path, capsys):
    root, made = phantoms
    out = tmp_path / "scores"
    # Saliency: the demo model's one epoch leaves its Grad-CAM maps of class 1 empty.
    assert _run(demo, root, out, "--masks", str(root / "masks"), "--methods", "saliency",
                "--metrics", "pointing_game,relevance_mass_accuracy,sparseness") == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "pointing_game" in printed and "Wrote explanation_scores.csv" in printed
    table = _table(out / "explanation_scores.csv")
    assert sorted(p.name for p in out.iterdir()) == [
        "explanation_scores.csv", "explanation_scores.png", "explanation_scores_per_image.csv",
    ]  # fmt: skip
    # The same model, images and masks, through the library's functions.
    paths, heatmaps = _library_maps(demo, root, "saliency")
    masks = made.lesion_masks[[int(p.stem[1:]) for p in paths]].astype(bool)
    for metric in ("pointing_game", "relevance_mass_accuracy", "sparseness"):
        row = table[("saliency", metric)]
        inputs = (heatmaps,) if metric == "sparseness" else (heatmaps, masks)
        direct = getattr(keras_cxr.metrics, metric)(*inputs)
        assert 0 < direct < 1  # neither an empty map nor a trivial score
        np.testing.assert_allclose(float(row["mean"]), direct, rtol=1e-5)
        assert float(row["low"]) <= float(row["mean"]) <= float(row["high"])
    assert int(table[("saliency", "pointing_game")]["images"]) == int(masks.any(axis=(1, 2)).sum())
    assert int(table[("saliency", "sparseness")]["images"]) == len(paths)
    with open(out / "explanation_scores_per_image.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 3 * len(paths)


def test_boxes_are_rasterised_and_matched_by_name(demo, phantoms, tmp_path):
    root, made = phantoms
    out = tmp_path / "boxes"
    assert _run(demo, root, out, "--boxes", str(root / "boxes.csv"), "--methods",
                "gradient-times-input", "--metrics", "energy_in_mask") == 0  # fmt: skip
    paths, heatmaps = _library_maps(demo, root, "gradient-times-input")
    boxes = np.zeros((len(paths), SIZE, SIZE), bool)
    for row, path in enumerate(paths):
        mask = made.lesion_masks[int(path.stem[1:])]
        if mask.any():
            rows, cols = np.nonzero(mask)
            boxes[row, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    boxes[paths.index(root / "scans" / "p0.png"), :2, :2] = True
    direct = keras_cxr.metrics.energy_in_mask(heatmaps, boxes)
    row = _table(out / "explanation_scores.csv")[("gradient-times-input", "energy_in_mask")]
    assert 0 < direct < 1
    np.testing.assert_allclose(float(row["mean"]), direct, rtol=1e-5)


def test_without_masks_the_localisation_metrics_are_skipped(demo, phantoms, tmp_path, capsys):
    root, _ = phantoms
    out = tmp_path / "no_masks"
    assert _run(demo, root, out, "--methods", "gradcam", "--metrics",
                "pointing_game,sparseness,random_logit") == 0  # fmt: skip
    assert "Skipped pointing_game: no --masks or --boxes" in capsys.readouterr().out
    assert sorted(_table(out / "explanation_scores.csv")) == [
        ("gradcam", "random_logit"), ("gradcam", "sparseness"),
    ]  # fmt: skip


@pytest.fixture
def broken_model(tmp_path):
    """A `.keras` file that is no model: an error about it means the inputs were not checked."""
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a model")
    return path


def _error(capsys, root, model, out, *arguments: str) -> str:
    code = main(["evaluate-explanations", "--model", str(model), "--data", str(root / "scans"),
                 "--out", str(out), "--quiet", *arguments])  # fmt: skip
    assert code == 1
    return error_line(capsys)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--methods", "gradcam,gradcan"], r"Unknown method 'gradcan'; valid methods: gradcam, "),
        (["--metrics", "sparsenes"], r"Unknown metric 'sparsenes'; valid metrics: pointing_game"),
        (["--metrics", "pointing_game"], r"Every metric chosen \(pointing_game\) compares maps"),
    ],
)
def test_unknown_names_are_listed_with_the_valid_ones(
    phantoms, broken_model, tmp_path, capsys, arguments, expected
):
    root, _ = phantoms
    line = _error(capsys, root, broken_model, tmp_path / "out", *arguments)
    assert re.search(expected, line), line
    assert not (tmp_path / "out").exists()


def test_a_mask_that_matches_no_image_is_named(phantoms, broken_model, tmp_path, capsys):
    root, _ = phantoms
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "p1.png"), np.zeros((SIZE, SIZE), np.uint8))
    cv2.imwrite(str(masks / "q7.png"), np.zeros((SIZE, SIZE), np.uint8))
    line = _error(capsys, root, broken_model, tmp_path / "out", "--masks", str(masks))
    assert "1 of the masks match no image: 'q7'" in line


def test_a_mask_of_another_size_is_refused(phantoms, broken_model, tmp_path, capsys):
    root, _ = phantoms
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "p2.png"), np.zeros((SIZE, SIZE + 1), np.uint8))
    line = _error(capsys, root, broken_model, tmp_path / "out", "--masks", str(masks))
    assert f"is {SIZE + 1} × {SIZE} pixels (width × height) but its image" in line
    assert f"p2.png' is {SIZE} × {SIZE}: a mask must have its image's size" in line


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("p1,1,2,3\n", "line 2: 4 fields, expected at least 5"),
        ("p1,1,2,3,4\np2,1,x,3,4\n", "line 3: x, y, width and height must all be numbers"),
        ("p1,1,2,,4\n", "line 2: x, y, width and height must all be numbers"),
        ("p1,1,2,0,4\n", "line 2: a box needs finite coordinates and a width and height > 0"),
        ("p9,1,2,3,4\n", "1 of the boxes match no image: 'p9'"),
    ],
)
def test_a_malformed_box_csv_line_is_named(
    phantoms, broken_model, tmp_path, capsys, body, expected
):
    root, _ = phantoms
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("patientId,x,y,width,height\n" + body)
    line = _error(capsys, root, broken_model, tmp_path / "out", "--boxes", str(boxes))
    assert expected in line, line


def test_a_csv_without_the_box_columns_is_refused(phantoms, broken_model, tmp_path, capsys):
    root, _ = phantoms
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("name,left,top\np1,1,2\n")
    line = _error(capsys, root, broken_model, tmp_path / "out", "--boxes", str(boxes))
    assert "has no column patientId (or image), x, y, width, height in its header" in line


def test_an_existing_output_folder_is_never_written(phantoms, broken_model, tmp_path, capsys):
    root, _ = phantoms
    out = tmp_path / "out"
    out.mkdir()
    (out / "explanation_scores.csv").write_text("mine")
    line = _error(capsys, root, broken_model, out, "--masks", str(root / "masks"))
    assert "already exists and is not empty; evaluate-explanations never overwrites" in line
    assert (out / "explanation_scores.csv").read_text() == "mine"


def test_masks_and_boxes_together_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["evaluate-explanations", "--model", "m", "--data", "d",
                                   "--masks", "m", "--boxes", "b.csv"])  # fmt: skip
    assert exit_info.value.code == 2
    assert "not allowed with argument --masks" in capsys.readouterr().err


def test_the_parser_defaults_are_the_library_defaults():
    args = build_parser().parse_args(["evaluate-explanations", "--model", "m", "--data", "d"])
    assert tuple(args.metrics) == keras_cxr.metrics.DEFAULT_EXPLANATION_METRICS == DEFAULT_METRICS
    assert tuple(keras_cxr.metrics.EXPLANATION_METRICS) == METRIC_NAMES
    assert set(args.methods) == set(DEFAULT_METHODS) <= set(keras_cxr.explain.METHODS)
    assert args.class_index == 1 and args.out == "runs/evaluate-explanations"


def test_a_class_the_model_lacks_is_refused(demo, phantoms, tmp_path, capsys):
    root, _ = phantoms
    out = tmp_path / "out"
    assert _run(demo, root, out, "--class-index", "2", "--metrics", "sparseness") == 1
    line = error_line(capsys)
    assert "--class-index 2 is out of range: the model has 2 classes (0 to 1" in line
    assert not out.exists() or not any(out.iterdir())


def test_a_mask_folder_inside_the_data_folder_is_not_read_as_images(
    phantoms, broken_model, tmp_path, capsys
):
    root, _ = phantoms
    code = main(["evaluate-explanations", "--model", str(broken_model), "--data", str(root),
                 "--masks", str(root / "masks"), "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 1
    line = error_line(capsys)  # the inputs passed: the model is the first thing refused
    assert "Several images" not in line and "broken.keras" in line, line
