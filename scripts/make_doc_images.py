"""Draw the pictures of the documentation with keras_cxr itself, on synthetic phantoms.

Usage (from the repository root):

    python scripts/make_doc_images.py            # writes docs/images/*.png
    python scripts/make_doc_images.py --out /tmp/images --epochs 2   # a quick try

Nothing is downloaded and no real patient image is used: every picture is made from
`keras_cxr.data.synthetic.make_phantoms`, with models small enough to train on a CPU in a
few minutes: the model is the one `keras-cxr demo` trains, two compact CNN backbones
(`keras_cxr.layers.compact_cnn`) in a `StackedEnsemble`, because ImageNet networks
cannot be downloaded here and do not learn from random weights on a CPU budget.

Pictures:

- `phantoms.png`: normal and pneumonia phantoms with their lesion and marker outlines.
- `ensemble_branches.png`: per-backbone and fused Grad-CAM of a two-backbone
  `StackedEnsemble` (`Explanation.plot`).
- `callback_epochs.png`: fused Grad-CAM of the same images after several epochs, as
  recorded by `GradCAMCallback`.
- `shortcut.png`: a model trained on phantoms with a label-correlated marker, explaining
  "pneumonia" on normal phantoms that carry the marker, with three explainers.
- `viewer.png`: the web viewer of `keras-cxr serve` (`keras_cxr.serve`) in headless
  Chromium (Playwright driving Debian's `/usr/bin/chromium`), showing a pneumonia phantom
  explained by a small ensemble trained on phantoms. `--only viewer` draws just this one.
- `run_view.png`: the run viewer of `keras-cxr view` over an archive of phantoms explained
  by a small trained ensemble: sorted by probability, mistakes only, one case open, and
  the summary plots below.
  `--only run_view` draws just this one.

The numbers quoted in the tutorials (localization scores, the effect of the marker) are
printed at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import keras_cxr
import keras_cxr.data
import keras_cxr.metrics
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.data.synthetic import make_phantoms
from keras_cxr.training import TrainConfig, build_model
from keras_cxr.viz import plot_grid

SIZE = 96
DPI = 72
LESION_COLOUR = "#ff3b30"
MARKER_COLOUR = "#ffd60a"
#: Debian's Chromium, offline and quiet (as tests/_chromium.py drives it).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def small_ensemble(seed: int) -> keras.Model:
    """The `keras-cxr demo` model (two compact CNN backbones, trained from scratch), at SIZE."""
    keras.utils.set_random_seed(seed)
    config = TrainConfig.recipe("demo", image_size=SIZE, seed=seed)
    model = build_model(config)
    model.compile(
        keras.optimizers.Adam(config.learning_rate),
        "binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,
    )
    return model


def outline(axis, mask: np.ndarray, colour: str) -> None:
    if mask is not None and mask.any():
        axis.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2)


def save(figure, path: Path) -> None:
    """Save a figure as a small palette PNG (heatmap overlays need few colours)."""
    from PIL import Image

    figure.savefig(path, dpi=DPI)
    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1000:.0f} KB)")


def draw_phantoms(out: Path) -> None:
    from matplotlib.figure import Figure

    phantoms = make_phantoms(8, image_size=128, seed=3, shortcut=True)
    order = np.argsort(phantoms.labels, kind="stable")
    figure = Figure(figsize=(8, 4.4), layout="constrained")
    axes = figure.subplots(2, 4)
    for axis, index in zip(axes.ravel(), order):
        axis.imshow(phantoms.images[index])
        outline(axis, phantoms.lesion_masks[index], LESION_COLOUR)
        outline(axis, phantoms.marker_masks[index], MARKER_COLOUR)
        axis.set_title("pneumonia" if phantoms.labels[index] else "normal", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(
        "make_phantoms(..., shortcut=True): lesions outlined in red, markers in yellow",
        fontsize=9,
    )
    save(figure, out / "phantoms.png")


def train_ensemble(out: Path, epochs: int) -> tuple[keras.Model, dict]:
    """Train the small ensemble with GradCAMCallback and draw the training-time picture."""
    train = make_phantoms(768, image_size=SIZE, seed=10)
    val = make_phantoms(64, image_size=SIZE, seed=11)
    watched = np.flatnonzero(val.labels == 1)[:3]
    model = small_ensemble(seed=0)
    snapshots: dict[int, np.ndarray] = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if gradcam.last_explanation is not None and epoch in gradcam.logged_epochs:
                snapshots[epoch] = gradcam.last_explanation.heatmaps.copy()

    with tempfile.TemporaryDirectory() as log_dir:
        gradcam = GradCAMCallback(
            val.images[watched],
            labels=val.labels[watched],
            masks=val.lesion_masks[watched],
            log_dir=log_dir,
            every=max(1, epochs // 3),
        )
        history = model.fit(
            train.images.astype("float32"),
            train.labels,
            validation_data=(val.images.astype("float32"), val.labels),
            epochs=epochs,
            batch_size=32,
            callbacks=[gradcam, Snapshot()],
            verbose=2,
        )
    columns = {f"epoch {epoch + 1}": maps for epoch, maps in sorted(snapshots.items())}
    figure = plot_grid(val.images[watched], columns, cell_size=1.7)
    for row in range(len(watched)):
        for col in range(1, len(columns) + 1):
            outline(
                figure.axes[row * (len(columns) + 1) + col], val.lesion_masks[watched[row]], "white"
            )
    save(figure, out / "callback_epochs.png")
    numbers = {
        "ensemble val_accuracy": history.history["val_accuracy"][-1],
        "ensemble gradcam_pointing (last epoch)": gradcam.history["gradcam_pointing"][-1],
        "ensemble gradcam_energy (last epoch)": gradcam.history["gradcam_energy"][-1],
    }
    return model, numbers


def draw_branches(model: keras.Model, out: Path) -> dict:
    test = make_phantoms(64, image_size=SIZE, seed=12)
    shown = np.concatenate(
        [np.flatnonzero(test.labels == 1)[:2], np.flatnonzero(test.labels == 0)[:1]]
    )
    explanation = keras_cxr.GradCAM(model).explain(test.images[shown])
    figure = explanation.plot(test.images[shown], labels=test.labels[shown])
    for row, index in enumerate(shown):
        for col in range(1, len(explanation.layer_heatmaps) + 2):
            outline(
                figure.axes[row * (len(explanation.layer_heatmaps) + 2) + col],
                test.lesion_masks[index],
                "white",
            )
    save(figure, out / "ensemble_branches.png")
    positives = test.labels == 1
    full = keras_cxr.GradCAM(model).explain(test.images[positives], class_index=1)
    return {
        "ensemble pointing game (test pneumonias)": keras_cxr.metrics.pointing_game(
            full, test.lesion_masks[positives]
        ),
        "lesion area share (test pneumonias)": float(test.lesion_masks[positives].mean()),
        "ensemble energy in lesion (test pneumonias)": keras_cxr.metrics.energy_in_mask(
            full, test.lesion_masks[positives]
        ),
    }


def draw_shortcut(out: Path, epochs: int) -> dict:
    """A model trained with the marker shortcut, explained on marked normal phantoms.

    `make_phantoms` draws the same images whatever `shortcut` is (only the markers
    differ), so each marked image has an unmarked twin: the effect of the marker on the
    prediction is measured directly, and compared with what the heatmaps show.
    """
    train = make_phantoms(768, image_size=SIZE, seed=20, shortcut=True)
    model = small_ensemble(seed=1)
    model.fit(train.images.astype("float32"), train.labels, epochs=epochs, batch_size=32, verbose=2)

    def probability(images: np.ndarray) -> np.ndarray:
        return model.predict(images.astype("float32"), verbose=0)[:, 0]

    normals = make_phantoms(300, image_size=SIZE, seed=22, prevalence=0.0, shortcut=True)
    twins = make_phantoms(300, image_size=SIZE, seed=22, prevalence=0.0)
    marked = normals.marker_masks.any(axis=(1, 2))
    images, markers = normals.images[marked], normals.marker_masks[marked]
    sick = make_phantoms(128, image_size=SIZE, seed=21, shortcut=True)
    sick_twins = make_phantoms(128, image_size=SIZE, seed=21)
    sick_marked = sick.marker_masks.any(axis=(1, 2)) & (sick.labels == 1)

    explainers = {
        "Grad-CAM, last layers": keras_cxr.GradCAM(model),
        "Grad-CAM, cnn_7x7 stage 2": keras_cxr.GradCAM(model, layer="cnn_7x7_stage2_2_relu"),
        "Score-CAM": keras_cxr.ScoreCAM(model),
    }
    numbers = {
        "marked normals": float(marked.sum()),
        "p(pneumonia) marked normals, with marker": float(probability(images).mean()),
        "p(pneumonia) same normals, marker removed": float(
            probability(twins.images[marked]).mean()
        ),
        "p(pneumonia) marked pneumonias, with marker": float(
            probability(sick.images[sick_marked]).mean()
        ),
        "p(pneumonia) same pneumonias, marker removed": float(
            probability(sick_twins.images[sick_marked]).mean()
        ),
        "marker area share": float(markers.mean()),
    }
    columns = {}
    for title, explainer in explainers.items():
        explanation = explainer.explain(images, class_index=1)
        columns[title] = explanation.heatmaps
        numbers[f"{title}: energy in marker"] = keras_cxr.metrics.energy_in_mask(
            explanation, markers
        )
        numbers[f"{title}: pointing game on marker"] = keras_cxr.metrics.pointing_game(
            explanation, markers
        )
        numbers[f"{title}: pointing game on marker, 4 px"] = keras_cxr.metrics.pointing_game(
            explanation, markers, tolerance=4
        )
    shown = slice(0, 3)
    figure = plot_grid(images[shown], {k: v[shown] for k, v in columns.items()}, cell_size=2.0)
    for row in range(3):
        for col in range(len(columns) + 1):
            outline(figure.axes[row * (len(columns) + 1) + col], markers[row], MARKER_COLOUR)
    save(figure, out / "shortcut.png")
    return numbers


def viewer_model(epochs: int) -> keras.Model:
    """The small ensemble both viewers show, trained on 384 phantoms."""
    train = make_phantoms(384, image_size=SIZE, seed=20)
    model = small_ensemble(seed=2)
    model.fit(train.images.astype("float32"), train.labels, epochs=epochs, batch_size=32,
              verbose=2)  # fmt: skip
    return model


def save_screenshot(path: Path) -> None:
    """Quantize a screenshot to 128 colours, so that it stays small."""
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1000:.0f} KB)")


def draw_viewer(out: Path, epochs: int) -> None:
    """Serve a small trained ensemble and screenshot the viewer with a phantom uploaded."""
    from playwright.sync_api import sync_playwright

    from keras_cxr.models import save_model
    from keras_cxr.serve import BackgroundServer, create_app

    model = viewer_model(epochs)
    shown = make_phantoms(8, image_size=320, seed=21)
    small = keras_cxr.data.resize_images(shown.images, (SIZE, SIZE)).astype("float32")
    probability = model.predict(small, verbose=0)[:, 0]
    positives = np.flatnonzero(shown.labels == 1)
    index = int(positives[np.argmax(probability[positives])])  # a pneumonia the model finds
    with tempfile.TemporaryDirectory() as folder:
        model_path = save_model(model, Path(folder) / "model.keras", {"threshold": 0.5})
        upload = Path(folder) / "pneumonia_phantom.png"
        from PIL import Image

        Image.fromarray(shown.images[index]).save(upload)
        with BackgroundServer(create_app(model_path)) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.goto(f"{server.url}/")
            page.wait_for_selector("#model-summary:has-text('model.keras')")
            page.check("#uncertainty-toggle")
            page.set_input_files("#file-input", str(upload))
            page.wait_for_selector("#status:has-text('explained')")
            page.wait_for_timeout(300)  # the PNGs drawn
            page.screenshot(path=str(out / "viewer.png"), full_page=True)
            browser.close()
    save_screenshot(out / "viewer.png")


def draw_run_view(out: Path, epochs: int) -> None:
    """Explain a phantom archive with a small trained ensemble and screenshot the run view."""
    from playwright.sync_api import sync_playwright

    from keras_cxr.data.synthetic import write_chest_xray
    from keras_cxr.models import save_model
    from keras_cxr.serve import BackgroundServer, create_run_app

    model = viewer_model(epochs)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model_path = save_model(model, folder / "model.keras", {"threshold": 0.5})
        archive = write_chest_xray(folder / "chest_xray", n_train=40, n_test=20,
                                   image_size=256, seed=23)  # fmt: skip
        run = folder / "explained"
        keras_cxr.explain_folder(model_path, archive, run, save="both", progress=False)
        with BackgroundServer(create_run_app(run)) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1240, "height": 760})
            page.goto(f"{server.url}/")
            page.wait_for_selector("#page-info:has-text('of 60')")
            page.select_option("#filter", "wrong")
            page.wait_for_selector("#rows[data-loaded*='filter=wrong']")
            page.click("#header-row th[data-column='probability']")
            page.wait_for_selector("#rows[data-loaded*='sort=probability']")
            page.click("#body tr:first-child")
            page.wait_for_function("() => document.getElementById('case-heat').naturalWidth > 0")
            page.keyboard.press("f")
            page.wait_for_selector("#case-status:has-text('saved')")
            page.wait_for_timeout(300)  # the PNGs drawn
            page.screenshot(path=str(out / "run_view.png"), full_page=True)
            browser.close()
    save_screenshot(out / "run_view.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images")
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per model")
    parser.add_argument("--only", choices=("viewer", "run_view"), help="draw only this picture")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    if args.only == "viewer":
        draw_viewer(out, args.epochs)
        return
    if args.only == "run_view":
        draw_run_view(out, args.epochs)
        return

    draw_phantoms(out)
    model, numbers = train_ensemble(out, args.epochs)
    numbers.update(draw_branches(model, out))
    numbers.update(draw_shortcut(out, args.epochs))
    draw_viewer(out, args.epochs)
    draw_run_view(out, args.epochs)
    for name, value in numbers.items():
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
