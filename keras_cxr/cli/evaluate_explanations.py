"""`keras-cxr evaluate-explanations`: explanation methods scored on a user's images and masks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from keras_cxr.cli._arguments import (
    METHOD_NAMES,
    add_bootstrap_options,
    add_model_option,
    add_quiet_option,
    non_negative_int,
    positive_int,
)

HELP = "score explanation methods with explanation metrics on images and masks"
DESCRIPTION = (
    "Explains every image of --data (searched recursively; JPEG, PNG or DICOM) with each "
    "of --methods and scores the maps with each of --metrics (localisation against the "
    "region masks, faithfulness, robustness, randomisation, complexity; see "
    "keras_cxr.metrics.EXPLANATION_METRICS). Masks are PNG files of the images' size "
    "named after them (a.jpeg -> a.png, non-zero inside) in --masks, or boxes in a CSV "
    "(--boxes, RSNA's patientId,x,y,width,height: several lines per image allowed, empty "
    "box fields for no finding); an image with no mask or box has no finding and is left "
    "out of the localisation metrics, which are skipped altogether without masks. Writes "
    "explanation_scores.csv (each metric's mean with a 95% patient-level bootstrap "
    "interval), explanation_scores_per_image.csv and explanation_scores.png to --out, a "
    "new or empty folder. Every input is checked before the model is loaded."
)

#: The defaults, restated so the parser imports no Keras; tests/cli/test_evaluate_
#: explanations.py checks them against `keras_cxr.metrics.DEFAULT_EXPLANATION_METRICS`.
DEFAULT_METHODS = ("gradcam", "saliency")
DEFAULT_METRICS = (
    "pointing_game",
    "relevance_mass_accuracy",
    "sparseness",
    "deletion_auc",
    "random_logit",
)
#: The names of `keras_cxr.metrics.EXPLANATION_METRICS`, in its order, restated for the help
#: (the same test checks them).
METRIC_NAMES = (
    "pointing_game",
    "energy_in_mask",
    "top_k_iou",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "attribution_localisation",
    "top_k_intersection",
    "auc",
    "sparseness",
    "complexity",
    "effective_complexity",
    "deletion_auc",
    "insertion_auc",
    "average_drop",
    "average_increase",
    "pixel_flipping",
    "faithfulness_correlation",
    "road",
    "max_sensitivity",
    "avg_sensitivity",
    "local_lipschitz_estimate",
    "relative_input_stability",
    "relative_output_stability",
    "random_logit",
    "efficient_mprt",
    "smooth_mprt",
)
OUT_DEFAULT = "runs/evaluate-explanations"


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names, got none")
    return list(dict.fromkeys(names))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr evaluate-explanations` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["evaluate-explanations", "--model", "m.keras", "--data", "scans",
        ...      "--boxes", "boxes.csv", "--methods", "gradcam,lime"])
        >>> args.methods, args.metrics[0], args.out
        (['gradcam', 'lime'], 'pointing_game', 'runs/evaluate-explanations')
    """
    add_model_option(parser)
    parser.add_argument("--data", required=True, help="a folder of images (searched recursively)")
    regions = parser.add_mutually_exclusive_group()
    regions.add_argument("--masks", metavar="DIR", help="PNG masks named after the images")
    regions.add_argument(
        "--boxes", metavar="CSV", help="box CSV: patientId (or image),x,y,width,height"
    )
    parser.add_argument(
        "--methods",
        type=_names,
        default=list(DEFAULT_METHODS),
        metavar="A,B",
        help=f"comma-separated methods, of: {', '.join(METHOD_NAMES)} "
        f"(default: {','.join(DEFAULT_METHODS)})",
    )
    parser.add_argument(
        "--metrics",
        type=_names,
        default=list(DEFAULT_METRICS),
        metavar="A,B",
        help=f"comma-separated metrics, of: {', '.join(METRIC_NAMES)} "
        f"(default: {','.join(DEFAULT_METRICS)}; see keras_cxr.metrics.EXPLANATION_METRICS)",
    )
    parser.add_argument(
        "--class-index",
        type=non_negative_int,
        default=1,
        help="the class explained and scored (default: 1, a binary model's finding)",
    )
    parser.add_argument(
        "--out", default=OUT_DEFAULT, help=f"a new or empty output folder (default: {OUT_DEFAULT})"
    )
    parser.add_argument("--batch-size", type=positive_int, default=16, help="images per batch")
    add_bootstrap_options(parser)
    add_quiet_option(parser)


def _check_out(out: str | os.PathLike) -> Path:
    """`--out` must be new or empty: nothing of the user's is ever overwritten."""
    from keras_cxr._output_folder import check_writable

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"The output folder {str(out)!r} already exists and is not empty; "
            "evaluate-explanations never overwrites files. Pass a new folder with --out."
        )
    check_writable(out)
    return out


def _regions(args: argparse.Namespace, paths: list[Path]):
    """`(mask_files, boxes)` from --masks or --boxes, checked against the images."""
    from keras_cxr.data import check_region_sources, find_mask_files, read_box_csv

    mask_files = find_mask_files(args.masks) if args.masks else None
    boxes = read_box_csv(args.boxes) if args.boxes else None
    if mask_files is not None or boxes is not None:
        check_region_sources(paths, mask_files, boxes)
    return mask_files, boxes


def _check_class(model, class_index: int) -> None:
    units = int(model.output_shape[-1])
    classes = 2 if units == 1 else units
    if class_index >= classes:
        sigmoid = "; a single sigmoid unit: 1 is the finding" if units == 1 else ""
        raise ValueError(
            f"--class-index {class_index} is out of range: the model has {classes} classes "
            f"(0 to {classes - 1}{sigmoid})."
        )


def run(args: argparse.Namespace) -> int:
    """Scores the methods with the metrics on the images of `--data`; writes and prints them.

    Args:
        args: The parsed `keras-cxr evaluate-explanations` arguments.

    Returns:
        0 (failures raise).

    Raises:
        ValueError: For an unknown method or metric (the valid ones listed), a mask or
            box that names no image, a mask of another size than its image, a malformed
            box CSV line (its number given), or a class the model does not have.
        FileNotFoundError: If the model, the data, the masks or the CSV do not exist.
        FileExistsError: If `--out` exists and is not empty.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.evaluate_explanations.run(parser.parse_args(
        ...     ["evaluate-explanations", "--model", "m.keras", "--data", "scans",
        ...      "--masks", "masks", "--out", "scores"]))
        0
    """
    from keras_cxr.data import find_images
    from keras_cxr.metrics import EXPLANATION_METRICS
    from keras_cxr.training.explanation_evaluation import check_choices

    check_choices(args.methods, args.metrics, have_masks=True)
    have_masks = bool(args.masks or args.boxes)
    skipped = [m for m in args.metrics if EXPLANATION_METRICS[m].needs_masks and not have_masks]
    metrics = [m for m in args.metrics if m not in skipped]
    if not metrics:
        raise ValueError(
            f"Every metric chosen ({', '.join(skipped)}) compares maps with region masks; "
            "pass --masks or --boxes, or choose other --metrics."
        )
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"No model file at {args.model!r}.")
    out = _check_out(args.out)
    paths = [source.path for source in find_images(args.data)]
    if args.masks:  # a mask folder inside --data holds masks, not images
        masks = Path(args.masks).resolve()
        paths = [path for path in paths if masks not in path.resolve().parents]
        if not paths:
            raise ValueError(f"Every image of {args.data!r} is in the mask folder {args.masks!r}.")
    mask_files, boxes = _regions(args, paths)
    if skipped:
        print(f"Skipped {', '.join(skipped)}: no --masks or --boxes to localise against.")
    return _score(args, out, paths, mask_files, boxes, metrics)


def _score(args, out, paths, mask_files, boxes, metrics) -> int:
    """Loads the model and the images, scores them, writes and prints the table."""
    import keras_cxr
    from keras_cxr.cli._model import color_mode, square_input
    from keras_cxr.data import load_region_masks, patient_id, read_images
    from keras_cxr.data.box_csv import image_name
    from keras_cxr.training import evaluate_explanations

    model = keras_cxr.load_model(args.model, compile=False)
    _check_class(model, args.class_index)
    size = square_input(model)
    masks = None
    if mask_files is not None or boxes is not None:
        masks = load_region_masks(paths, size, mask_files, boxes)
    images = read_images(paths, size, color_mode(model), progress=not args.quiet)
    names = [image_name(path.name) for path in paths]
    evaluation = evaluate_explanations(
        model, images, args.methods, metrics, masks=masks, names=names,
        groups=[patient_id(path.name) or name for path, name in zip(paths, names)],
        class_index=args.class_index, batch_size=args.batch_size,
        n_resamples=args.bootstrap, seed=args.seed, progress=not args.quiet,
    )  # fmt: skip
    written = evaluation.save(out)
    with_regions = "" if masks is None else f", {int(masks.any(axis=(1, 2)).sum())} with a region"
    print(f"{len(paths)} images{with_regions}; class {args.class_index} explained.")
    print(evaluation.table())
    print(f"Wrote {', '.join(path.name for path in written.values())} in {out}")
    return 0
