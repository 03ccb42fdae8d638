"""`keras-cxr explain`: predictions, heatmaps and overlays for images, folders and archives."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import (
    add_method_option,
    add_model_options,
    add_quiet_option,
    add_resume_option,
    positive_int,
)

HELP = "predictions and heatmaps for images, folders and whole archives"
DESCRIPTION = (
    "Explains every image named by the sources (files, folders searched recursively, glob "
    "patterns, .txt lists; JPEG, PNG or DICOM, resized to the model input) and writes a "
    "results table (Parquet with pyarrow, else CSV), heatmap shards and/or overlay PNGs "
    "to --out, shard by shard; unreadable files are listed in skipped/. An interrupted "
    "run continues with --resume."
)

#: What `--save` may keep besides the table, restated so the parser imports no Keras
#: (tests/cli/test_explain.py checks it against `keras_cxr.scale.SAVE_OPTIONS`).
SAVE_CHOICES = ("heatmaps", "overlays", "both", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr explain` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["explain", "--model", "m.keras", "a.png", "scans/", "--out", "explained"]
        ... )
        >>> args.sources, args.method, args.save
        (['a.png', 'scans/'], 'gradcam', 'overlays')
    """
    add_model_options(parser)
    parser.add_argument(
        "sources", nargs="+", help="image files, folders, glob patterns or .txt path lists"
    )
    parser.add_argument("--out", required=True, help="output folder (new, empty, or --resume)")
    add_method_option(parser)
    parser.add_argument(
        "--save",
        choices=SAVE_CHOICES,
        default=None,
        help="what to keep besides the table: heatmap .npz shards, overlay PNGs, both or "
        "none (default: heatmaps, as explain_folder; a resumed run keeps its own)",
    )
    parser.add_argument(
        "--all-classes",
        action="store_true",
        help="also explain every class (e.g. NORMAL, BACTERIAL and VIRAL), not only the "
        "decided one: maps and overlays named after the class",
    )
    add_resume_option(parser)
    parser.add_argument(
        "--retry-skipped",
        action="store_true",
        help="with --resume, explain again the files earlier calls skipped",
    )
    parser.add_argument("--batch-size", type=positive_int, default=16, help="images per batch")
    parser.add_argument(
        "--shard-size", type=positive_int, default=256, help="images per table shard"
    )
    parser.add_argument(
        "--heatmap-size",
        type=positive_int,
        default=56,
        help="longest side of the heatmaps kept in the .npz shards (default: 56)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="decoding threads (default: cores)"
    )
    parser.add_argument(
        "--table-format",
        choices=("auto", "parquet", "csv"),
        default="auto",
        help="results table format (default: Parquet when pyarrow is installed)",
    )
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Explains the sources into `--out` with `keras_cxr.explain_folder` and prints a summary.

    Args:
        args: The parsed `keras-cxr explain` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model file or a source does not exist.
        ValueError: If no image is found, the model is not a classifier, or no image
            could be explained (the first reason is in the message).
        FileExistsError: If `--out` holds other files, or a run without `--resume`.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.explain.run(
        ...     parser.parse_args(["explain", "--model", "m.keras", "scans", "--out", "ex"])
        ... )
        0
    """
    from keras_cxr.scale import explain_folder, read_manifest, read_skipped

    summary = explain_folder(
        args.model,
        args.sources,
        args.out,
        method=args.method,
        threshold=args.threshold,
        save=args.save,
        batch_size=args.batch_size,
        resume=args.resume,
        workers=args.workers,
        shard_size=args.shard_size,
        heatmap_size=args.heatmap_size,
        table_format=args.table_format,
        progress=not args.quiet,
        all_classes=args.all_classes,
        retry_skipped=args.retry_skipped,
    )
    if summary.explained == 0 and summary.skipped:
        first = read_skipped(summary.out)["reason"][0]
        raise ValueError(
            f"No image could be explained: all {summary.skipped} were skipped, the first "
            f"because: {first} The reasons are listed in {summary.out / 'skipped'}."
        )
    manifest = read_manifest(summary.out)
    source = manifest["threshold_source"]
    if source == "default":
        source = "the model file stores none; pass --threshold to choose one"
    decision = (
        f"threshold {manifest['threshold']:.3f} ({source}) on probabilities calibrated at "
        f"temperature {manifest.get('temperature', 1.0):.3f}"
    )
    if len(manifest["class_names"]) > 2:
        decision = "decision: the arg-max of " + ", ".join(manifest["class_names"])
    if manifest.get("all_classes"):
        decision += "; a map per class: " + ", ".join(manifest["class_names"])
    if len(manifest["class_names"]) > 2:
        decision += (
            f"; probabilities calibrated at temperature {manifest.get('temperature', 1.0):.3f}"
        )
    # The pixel and attention methods have no target layers, hence no branches to name.
    branches = f" on {', '.join(manifest['branches'])}" if manifest["branches"] else ""
    print(f"{manifest['method']}{branches}; {decision}.")
    print(summary)
    return 0
