"""`keras-cxr serve`: an HTTP server that explains uploaded images, with a web viewer."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import (  # the defaults, kept importable from here
    DEFAULT_ALLOWED_HOSTS,  # noqa: F401
    DEFAULT_HOST,  # noqa: F401
    DEFAULT_PORT,  # noqa: F401
    add_address_options,
    add_allowed_host_option,
    add_method_option,
    add_model_options,
    allowed_hosts,
    integer_at_least,
    positive_int,
    server_url,
)

HELP = "an HTTP server and web viewer that explain uploaded images"
DESCRIPTION = (
    "Serves the model over HTTP: POST /v1/explain takes one JPEG, PNG or DICOM image "
    "(multipart field `file`) and answers the probability, the decision at the threshold "
    "and the heatmaps; GET /v1/model describes the model; the viewer is at /. Concurrent "
    "requests are explained in micro-batches. With --run RUN_DIR, the page of `keras-cxr "
    "view` over that explained run is at /run/. Binds 127.0.0.1 unless --host says "
    'otherwise. Needs the serve extra: pip install "keras-cxr[serve]".'
)

#: Defaults restated so that building the parser imports no Keras (tests/cli/test_serve.py
#: checks them against `keras_cxr.serve`).
DEFAULT_MAX_UPLOAD_MB = 32
DEFAULT_MC_SAMPLES = 30
DEFAULT_MAX_QUEUE = 64
DEFAULT_REQUEST_TIMEOUT = 30.0


def _seconds_at_least_0(text: str) -> float:
    """An `argparse` type for a number of seconds >= 0 (`inf` included)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr serve` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(["serve", "--model", "m.keras"])
        >>> args.host, args.port, args.max_batch_size
        ('127.0.0.1', 8000, 16)
    """
    add_model_options(parser)
    add_method_option(parser)
    add_address_options(parser)
    parser.add_argument(
        "--max-batch-size",
        type=positive_int,
        default=16,
        help="most requests explained in one call (default: 16)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="how long a request waits for others to join its batch (default: 5)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=positive_int,
        default=DEFAULT_MAX_UPLOAD_MB,
        help="largest image file accepted, in MiB (default: 32)",
    )
    parser.add_argument(
        "--mc-samples",
        type=integer_at_least(2),
        default=DEFAULT_MC_SAMPLES,
        help="MC-dropout samples for ?uncertainty=true (default: 30)",
    )
    add_allowed_host_option(parser)
    parser.add_argument(
        "--max-queue",
        type=positive_int,
        default=DEFAULT_MAX_QUEUE,
        help="most requests waiting for the model; more get 503 with Retry-After (default: 64)",
    )
    parser.add_argument(
        "--max-queue-wait",
        type=_seconds_at_least_0,
        default=None,
        metavar="SECONDS",
        help="most seconds a new request may be expected to wait for those ahead of it; "
        "more gets 503 with Retry-After before it is decoded ('inf' turns it off; default: "
        "the measured idle time of a request)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_REQUEST_TIMEOUT,
        help="seconds a request may take before it gets 504 (default: 30)",
    )
    parser.add_argument(
        "--run",
        dest="run_dir",  # `args.run` is the command's function
        default=None,
        metavar="RUN_DIR",
        help="an explained run (keras-cxr explain --out) to review at /run/, as keras-cxr view",
    )


def run(args: argparse.Namespace) -> int:
    """Loads the model and serves it with `keras_cxr.serve.serve` until Ctrl-C.

    Args:
        args: The parsed `keras-cxr serve` arguments.

    Returns:
        0 when the server stops.

    Raises:
        ImportError: If the serve extra is not installed (the message says how).
        FileNotFoundError, ValueError: For a missing model or a bad option.
        OSError: If the address cannot be bound.

    Example:
        >>> keras_cxr.cli.serve.run(
        ...     keras_cxr.cli.build_parser().parse_args(["serve", "--model", "m.keras"])
        ... )  # blocks
        0
    """
    from keras_cxr.serve import RequestLimits, serve

    if args.max_wait_ms < 0:
        raise ValueError(f"--max-wait-ms must be >= 0; received {args.max_wait_ms}.")
    if not args.request_timeout > 0:
        raise ValueError(f"--request-timeout must be > 0; received {args.request_timeout}.")
    hosts = allowed_hosts(args)
    limits = RequestLimits(
        max_queue=args.max_queue,
        max_queue_wait=args.max_queue_wait,
        timeout=args.request_timeout,
        allowed_hosts=tuple(hosts),
    )
    url = server_url(args.host, args.port)
    print(f"Loading {args.model}, then serving it on {url} (Ctrl-C stops).", flush=True)
    if args.run_dir is not None:
        print(f"Reviewing {args.run_dir} on {url}run/", flush=True)
    serve(
        args.model,
        host=args.host,
        port=args.port,
        method=args.method,
        threshold=args.threshold,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        mc_samples=args.mc_samples,
        limits=limits,
        run_dir=args.run_dir,
    )
    return 0
