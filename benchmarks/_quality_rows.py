"""The figures of `explanation_quality.py` for one method on one trained model."""

from __future__ import annotations

import math
import time

import cv2
import keras
import numpy as np
from _quality_families import family_row
from _quality_model import DOWNSAMPLING

import keras_cxr
from keras_cxr import metrics

#: Share of pixels kept by top-k IoU: close to the lesions' mean area (about 4%).
TOP_K = 0.05
#: Pointing-game tolerances in pixels: strict, one CAM cell, and Zhang et al.'s 15 px.
TOLERANCES = (0, DOWNSAMPLING, 15)
BASELINES = ("random", "centre")
#: Arguments other than the defaults: Integrated Gradients at the 32 steps of the cost
#: target (its default is 50); SHAP with 200 evaluations per image (default 500), which
#: its Python bookkeeping makes the slowest method by far.
OPTIONS = {"integrated-gradients": {"steps": 32}, "shap": {"max_evals": 200}}
#: Benchmark-only variants, name → a function building the explainer from the model.
#: Multi-layer LayerCAM (Jiang et al. 2021) fuses the maps of the ends of the last
#: resolution stages (`keras_cxr.explain.block_layers`), as a user would pick them: of the
#: phantom CNN's (`_quality_model.build_model`) `conv2` (1/2 of the image's resolution) and
#: `conv5` (1/4) for "layercam-multi", and `conv1` (full resolution) too for "layercam-all";
#: `keras_cxr.explain.fuse` averages the normalised per-layer maps. "smoothgrad-gxi" is
#: SmoothGrad over Gradient × Input (16 samples, noise 0.1).
VARIANTS = {
    "layercam-multi": lambda model: keras_cxr.LayerCAM(
        model, layer=keras_cxr.explain.block_layers(model, n=2)
    ),
    "layercam-all": lambda model: keras_cxr.LayerCAM(
        model, layer=keras_cxr.explain.block_layers(model, n=3)
    ),
    "smoothgrad-gxi": lambda model: keras_cxr.SmoothGrad(
        keras_cxr.GradientTimesInput(model), samples=16, noise=0.1
    ),
}


def random_heatmaps(count: int, size: int, seed: int) -> np.ndarray:
    """Uniform noise on the CAM grid, bilinearly upsampled: as smooth as a CAM, no signal."""
    grid = max(1, size // DOWNSAMPLING)
    coarse = np.random.default_rng(seed).random((count, grid, grid), dtype=np.float32)
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in coarse])


def centre_heatmaps(count: int, size: int) -> np.ndarray:
    """An isotropic Gaussian on the image centre, sigma a quarter of the side."""
    axis = np.arange(size) + 0.5 - size / 2
    squared = axis[:, None] ** 2 + axis[None, :] ** 2
    peak = np.exp(-squared / (2 * (size / 4) ** 2)).astype(np.float32)
    return np.broadcast_to(peak, (count, size, size)).copy()


#: (method, id(model)) → (model, explain, explainer): one explainer (and one compilation) per method
#: and model; the model is kept so that its id is not reused. `clear_explainers` empties it.
_EXPLAINERS: dict[tuple[str, int], tuple] = {}


def explainer_for(method: str, model: keras.Model, seed: int):
    """`explain(images)` → heatmaps explaining class 1, for a method name or a baseline."""
    if method == "random":
        return lambda images: random_heatmaps(len(images), images.shape[1], seed)
    if method == "centre":
        return lambda images: centre_heatmaps(len(images), images.shape[1])
    key = (method, id(model))
    if key not in _EXPLAINERS:
        if method in VARIANTS:
            explainer = VARIANTS[method](model)
        else:
            explainer = keras_cxr.explain.get_method(method)(model, **OPTIONS.get(method, {}))
        _EXPLAINERS[key] = (
            model,
            lambda images: np.asarray(explainer.explain(images, class_index=1).heatmaps),
            explainer,
        )
    return _EXPLAINERS[key][1]


def explainer_object(method: str, model: keras.Model):
    """The explainer behind `explainer_for` (None for a baseline), for metrics that call it."""
    if method in BASELINES:
        return None
    explainer_for(method, model, 0)
    return _EXPLAINERS[(method, id(model))][2]


def clear_explainers() -> None:
    """Forget the cached explainers (and their models), e.g. before the next seed."""
    _EXPLAINERS.clear()


def timed_heatmaps(method: str, model: keras.Model, images: np.ndarray, seed: int):
    """Heatmaps of `images` and the seconds they took, after a warm-up call that compiles."""
    explain = explainer_for(method, model, seed)
    explain(images[:2])
    start = time.perf_counter()
    heatmaps = explain(images)
    return heatmaps, time.perf_counter() - start


def randomized_copies(model: keras.Model, seed: int, draws: int) -> dict:
    """The head-only randomized copy and `draws` fully randomized copies of `model`.

    One draw of random weights fixes the sign of a GAP + dense head's score for every
    image alike, so a single draw can make every randomized Grad-CAM empty or none: the
    fully randomized model is drawn several times, the same draws for every method.
    """
    head = next(iter(metrics.randomize_model(model, mode="cascading", seed=seed)))[1]
    full = []
    for draw in range(draws):
        *_, (_, copy) = metrics.randomize_model(model, mode="cascading", seed=seed + draw)
        full.append(copy)
    return {"head": head, "full": full}


def quality_row(method, model, predict_fn, data: dict, copies: dict, seed: int) -> dict:
    """Every localization, faithfulness, sanity and cost figure of one method on one model,
    and the Quantus families of `_quality_families.family_row`.

    `data` holds `images`, `masks` (the method's share of the held-out positives),
    `faithfulness` (how many of them deletion/insertion use), `randomization` (images for
    the sanity check) and `forward_seconds` (a forward pass over `images`).
    """
    images, masks = data["images"], data["masks"]
    heatmaps, seconds = timed_heatmaps(method, model, images, seed)
    row = {"method": method, "images": len(images)}
    for tolerance in TOLERANCES:
        row[f"pointing_{tolerance}px"] = metrics.pointing_game(heatmaps, masks, tolerance=tolerance)
    low, high = wilson_interval(row["pointing_0px"], len(images))
    row["pointing_ci"] = [low, high]
    row["energy_in_lesion"] = metrics.energy_in_mask(heatmaps, masks)
    row["energy_ratio"] = row["energy_in_lesion"] / float(masks.mean())
    row["top_k_iou"] = metrics.top_k_iou(heatmaps, masks, k=TOP_K)
    count = data["faithfulness"]
    sub_images, sub_maps = images[:count], heatmaps[:count]
    for name in ("deletion_auc", "insertion_auc", "average_drop", "average_increase"):
        row[name] = getattr(metrics, name)(predict_fn, sub_images, sub_maps, class_index=1)
    sanity = data["randomization"]
    original = heatmaps[: len(sanity)]
    head = randomization_similarity(original, [explainer_for(method, copies["head"], seed)(sanity)])
    row["head_randomized_spearman"] = head["randomized_spearman"]
    full = [explainer_for(method, copy, seed)(sanity) for copy in copies["full"]]
    row.update(randomization_similarity(original, full))
    explainer = explainer_object(method, model)
    row.update(family_row(model, predict_fn, data, heatmaps, explainer))
    row["seconds"] = seconds
    is_baseline = method in BASELINES
    row["forward_multiple"] = math.nan if is_baseline else seconds / data["forward_seconds"]
    return row


def randomization_similarity(original: np.ndarray, randomized: list[np.ndarray]) -> dict:
    """Similarity of the trained model's maps with the randomized models' maps.

    Spearman and SSIM are averaged over the (image, seed) pairs whose randomized map is not
    empty. An empty (all-zero) map is the method saying "no evidence for the class
    anywhere": it shares nothing with the original map, so it passes the check, but
    Spearman is undefined for it and SSIM rates it as similar to any mostly-dark heatmap,
    so such pairs are counted instead of averaged. The SSIM of the original maps with an
    empty map is reported as the reference: SSIM near it means the randomized maps keep
    no more of the original's structure than a blank map does.
    """
    spearman, ssim, empty = [], [], 0
    normalized = unit_range(original)
    for maps in randomized:
        keep = np.ptp(maps, axis=(1, 2)) > 0
        empty += int(np.sum(~keep))
        if keep.any():
            spearman.append(metrics.spearman_rank_correlation(original[keep], maps[keep], True))
            ssim.append(metrics.ssim(normalized[keep], unit_range(maps[keep]), True))
    spearman_mean = float(np.mean(np.concatenate(spearman))) if spearman else math.nan
    ssim_mean = float(np.mean(np.concatenate(ssim))) if ssim else math.nan
    return {
        "ssim_with_empty_map": metrics.ssim(normalized, np.zeros_like(normalized)),
        "randomized_spearman": spearman_mean,
        "randomized_ssim": ssim_mean,
        "randomized_empty_maps": empty,
        "randomized_maps": sum(len(maps) for maps in randomized),
    }


def unit_range(maps: np.ndarray) -> np.ndarray:
    """Each map min-max scaled to [0, 1] (SSIM's data range); a constant map becomes zeros."""
    return np.asarray(keras_cxr.explain.normalize(maps))


def wilson_interval(share: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion measured on `count` images."""
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count))
    return centre - half / (1 + z * z / count), centre + half / (1 + z * z / count)


def marker_row(method: str, models: dict, phantoms, seed: int) -> dict:
    """Energy and pointing game on the marker (and lesion, where there is one), per model."""
    row, images = {"method": method}, phantoms.images[..., :1].astype("float32")
    for label, model in models.items():
        heatmaps = explainer_for(method, model, seed)(images)
        for region in ("lesion", "marker"):
            masks = getattr(phantoms, f"{region}_masks")
            if masks.any():
                row[f"{label}_energy_{region}"] = metrics.energy_in_mask(heatmaps, masks)
                row[f"{label}_pointing_{region}"] = metrics.pointing_game(
                    heatmaps, masks, tolerance=DOWNSAMPLING
                )
        row[f"{label}_heatmaps"] = heatmaps
    return row
