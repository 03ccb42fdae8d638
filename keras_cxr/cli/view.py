"""`keras-cxr view`: a local page to review an explained run (the output of `keras-cxr explain`)."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import (
    add_address_options,
    add_allowed_host_option,
    allowed_hosts,
    server_url,
)

HELP = "a local page to review an explained run: sort, filter, open cases, flag them"
DESCRIPTION = (
    "Serves a page over the output folder of `keras-cxr explain ... --out RUN_DIR`: every "
    "row with its probability, decision, label and map statistics, sorted and filtered "
    "(false positives, false negatives, low confidence, search by file name); a case view "
    "with the image and its heatmaps; flags and notes saved to RUN_DIR/triage.json (or "
    "--flags) and exported as CSV. The run itself is never written. Binds 127.0.0.1 unless "
    '--host says otherwise. Needs the serve extra: pip install "keras-cxr[serve]".'
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr view` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(["view", "explained"])
        >>> args.run_dir, args.host, args.port
        ('explained', '127.0.0.1', 8000)
    """
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the output folder of keras-cxr explain")
    add_address_options(parser)
    add_allowed_host_option(parser)
    parser.add_argument(
        "--flags",
        default=None,
        help="file for the flags and notes (default: RUN_DIR/triage.json)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs `keras-cxr view`: serves the run viewer until interrupted.

    Args:
        args: The parsed `keras-cxr view` arguments.

    Returns:
        0 when the server stops.

    Raises:
        ImportError: If the serve extra is not installed (the message says how).
        FileNotFoundError: If RUN_DIR is not an explained run.
        OSError: If the address cannot be bound.

    Example:
        >>> keras_cxr.cli.view.run(keras_cxr.cli.build_parser().parse_args(["view", "explained"]))
        0
    """
    from keras_cxr.serve.server import serve_run

    url = server_url(args.host, args.port)
    print(f"Reviewing {args.run_dir} on {url} (Ctrl-C stops).", flush=True)
    serve_run(
        args.run_dir,
        host=args.host,
        port=args.port,
        flags_file=args.flags,
        allowed_hosts=allowed_hosts(args),
    )
    return 0
