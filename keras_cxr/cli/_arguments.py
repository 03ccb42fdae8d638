"""Argument types and the options that several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: The names of `keras_cxr.explain.METHODS` (the CAMs, the pixel and the attention methods),
#: restated so that building the parser imports no Keras; tests/cli/test_arguments.py checks
#: that the two agree.
METHOD_NAMES = (
    "attention-gradient",
    "attention-rollout",
    "eigencam",
    "gradcam",
    "gradcam++",
    "gradient-times-input",
    "hirescam",
    "integrated-gradients",
    "layercam",
    "lime",
    "occlusion",
    "saliency",
    "scorecam",
    "shap",
    "smoothgrad",
    "vargrad",
    "xgradcam",
)
#: Where `keras-cxr serve` and `keras-cxr view` listen by default, restated so that
#: building the parser imports no FastAPI (tests/cli/test_serve.py checks them against
#: `keras_cxr.serve`).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: The `Host` names a server answers by default (`keras_cxr.serve.DEFAULT_ALLOWED_HOSTS`).
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An `argparse` type that accepts integers >= `minimum` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = integer_at_least(1)
non_negative_int = integer_at_least(0)


def probability(text: str) -> float:
    """An `argparse` type that accepts a number in [0, 1] (a usage error otherwise), so a
    threshold of 50 or NaN is refused before any model is loaded."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text}")
    return value


probability.__name__ = "probability"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """`--model`, the `.keras` file of the commands that read a trained model."""
    parser.add_argument("--model", required=True, help="a .keras model file")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """`--model` and `--threshold`, for the commands that apply a trained model."""
    add_model_option(parser)
    parser.add_argument(
        "--threshold",
        type=probability,
        default=None,
        help="override the stored decision threshold (in [0, 1])",
    )


def add_method_option(parser: argparse.ArgumentParser) -> None:
    """`--method`, the explanation method of the heatmaps (a CAM, a pixel or an attention
    method)."""
    parser.add_argument(
        "--method",
        choices=METHOD_NAMES,
        default="gradcam",
        help="explanation method (attention-rollout and attention-gradient: vision "
        "transformers with keras.layers.MultiHeadAttention only)",
    )


def add_address_options(parser: argparse.ArgumentParser) -> None:
    """`--host` and `--port`, for the commands that serve over HTTP."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind (default: 127.0.0.1, this machine only; others warn)",
    )
    parser.add_argument(
        "--port", type=positive_int, default=DEFAULT_PORT, help="port (default: 8000)"
    )


def add_allowed_host_option(parser: argparse.ArgumentParser) -> None:
    """`--allowed-host`: the `Host` names a server answers (DNS-rebinding protection)."""
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a host name the Host header may carry (repeat for several; '*' for any); "
        "default: localhost, 127.0.0.1, [::1] and the --host address. Others get 400, "
        "which stops DNS-rebinding pages",
    )


def allowed_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """The `--allowed-host` names, else the defaults and the bound address (if one)."""
    from keras_cxr.serve.request_limits import allowed_hosts_for  # no FastAPI import

    return allowed_hosts_for(args.host, args.allowed_host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def server_url(host: str, port: int) -> str:
    """The URL a server bound to `host`:`port` answers on (IPv6 addresses bracketed)."""
    return f"http://{_url_host(host)}:{port}/"


def add_bootstrap_options(parser: argparse.ArgumentParser) -> None:
    """`--bootstrap` and `--seed`: the patient-level bootstrap of the 95% intervals."""
    parser.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of patients for the 95%% intervals (0: none; default: 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """`--quiet`: no progress bars."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_resume_option(parser: argparse.ArgumentParser) -> None:
    """`--resume`: continue an interrupted run in `--out`."""
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out"
    )
