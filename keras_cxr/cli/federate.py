"""`keras-cxr federate`: federated training across sites, no image leaving its site."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import add_quiet_option, add_resume_option, positive_int

HELP = "train across sites (hospitals) with federated averaging; only weights move"
DESCRIPTION = (
    "Federated training with FedAvg: each site trains the global model on its own images "
    "with the chosen recipe and sends its weights back; the averaged model is graded per "
    "site every round (rounds.csv, rounds.png). Sites are real folders (--sites DIR,DIR) or "
    "simulated from one folder by patient: iid:K, label:K (Dirichlet label skew, --alpha) or "
    "cohort (the naming cohorts of the normal images). The temperature and threshold are "
    "fitted on validation logits the sites send, and model.keras works with evaluate, "
    "explain, report and serve. A killed run continues with --resume at the round after "
    "the last completed one."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr federate` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["federate", "--data", "d", "--sites", "label:3"])
        >>> args.sites, args.rounds
        ('label:3', 5)
    """
    parser.add_argument("--data", metavar="ROOT", help="Kermany-layout folder to cut into sites")
    parser.add_argument(
        "--sites",
        required=True,
        metavar="iid:K|label:K|cohort|DIR,DIR",
        help="simulated sites of --data, or one Kermany-layout folder per real site",
    )
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds (default: 5)")
    parser.add_argument(
        "--out", default="runs/federated", help="run folder (default: runs/federated)"
    )
    parser.add_argument(
        "--recipe", default="offline", help="recipe each site trains with (default: offline)"
    )
    parser.add_argument(
        "--local-epochs",
        type=positive_int,
        default=1,
        help="epochs per site per round (default: 1)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="Dirichlet concentration of label:K (default: 0.5)"
    )
    for flag, text in (
        ("--image-size", "input side in pixels (default: the recipe's)"),
        ("--batch-size", "batch size (default: the recipe's)"),
        ("--max-images", "at most this many images per split of each site (default: all)"),
    ):
        parser.add_argument(flag, type=positive_int, default=None, help=text)
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="share of patients held out for the final test when --data has no test/",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--dp-clipping-norm",
        type=float,
        default=None,
        metavar="C",
        help="differential privacy: clip each site's update to L2 norm C, add noise (default: off)",
    )
    parser.add_argument(
        "--dp-noise-multiplier",
        type=float,
        default=1.0,
        metavar="Z",
        help="noise standard deviation in units of C / sites (default: 1.0)",
    )
    add_resume_option(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Runs the federation and prints the final metrics and where its files went.

    Args:
        args: The parsed `keras-cxr federate` arguments.

    Returns:
        0 (failures raise).

    Raises:
        ValueError: For invalid settings or data.
        keras_cxr.training.RunExistsError: If `--out` holds another run.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.federate.run(parser.parse_args(
        ...     ["federate", "--data", "chest_xray", "--sites", "iid:3"]))
        0
    """
    from keras_cxr.federated import FederatedConfig, federate

    config = FederatedConfig(
        data=args.data,
        sites=args.sites,
        rounds=args.rounds,
        out=args.out,
        recipe=args.recipe,
        local_epochs=args.local_epochs,
        alpha=args.alpha,
        image_size=args.image_size,
        batch_size=args.batch_size,
        max_images=args.max_images,
        test_fraction=args.test_fraction,
        seed=args.seed,
        dp_clipping_norm=args.dp_clipping_norm,
        dp_noise_multiplier=args.dp_noise_multiplier,
        progress=not args.quiet,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    result = federate(config)
    val, test = result.val_metrics, result.test_metrics
    timings = result.timings
    lines = [
        f"\n{result.rounds} rounds over {len(result.site_metrics)} sites in "
        f"{timings['total']:.0f} s (local training {timings['local_training']:.0f} s).",
        f"Pooled site validation: ROC AUC {val['roc_auc']:.3f}, accuracy {val['accuracy']:.3f} "
        f"at threshold {result.threshold:.3f} (temperature {result.temperature:.2f}).",
    ]
    if test is not None:
        lines.append(
            f"Held-out test ({test['n']} images): ROC AUC {test['roc_auc']:.3f}, accuracy "
            f"{test['accuracy']:.3f}, sensitivity {test['sensitivity']:.3f}, specificity "
            f"{test['specificity']:.3f}."
        )
    lines += [
        f"  model      {result.model_path}",
        f"  per round  {result.out / 'rounds.csv'} and rounds.png",
        f"  summary    {result.out / 'federated_summary.json'}",
    ]
    print("\n".join(lines))
    return 0
