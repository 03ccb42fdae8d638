"""How fast does `keras-cxr serve` answer under load, and does its memory stay flat?

Side by side in one run, on the same model and the same phantom PNGs: (a) the offline
`BatchExplainer` at batch 16 (decoded images in, heatmaps out: the ceiling), then (b) the
HTTP server (`keras_cxr.serve`, in its own process, micro-batching up to 16) under 1, 4
and 16 concurrent clients on loopback, each sending a bounded number of requests: p50 and
p99 latency, throughput and errors. The throughput at 16 clients is compared with (a)
(target: at least 0.8). Last, the server's resident memory is sampled while it answers
`--rss-requests` more requests: flat means the last samples are about the first.

The clients (threads sending prepared bodies with `http.client`) share the machine with
the server, as on any loopback benchmark; on a shared machine the numbers are indicative.

Models (`--model`): `compact`, `StackedEnsemble(["cnn_3x3", "cnn_7x7"], weights=None)`,
a small model that explains an image in a few milliseconds, so that the HTTP, multipart,
PNG and JSON costs of every request dominate (the hard case for the ratio); or `ensemble`,
the default `StackedEnsemble()` (MobileNetV2 + DenseNet169, `weights=None`), the model a
user serves, where the explaining dominates. Both at `--image-size` (224 by default).

Usage:
    python benchmarks/serve_load.py [--model compact|ensemble] [--image-size 224]
        [--requests 24] [--rss-requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


#: `--model` choices: the backbones of the served `StackedEnsemble` (None: its default).
MODELS = {"compact": ["cnn_3x3", "cnn_7x7"], "ensemble": None}


def write_model(folder: Path, image_size: int, model_name: str = "compact") -> Path:
    import keras_cxr
    from keras_cxr.models import save_model

    backbones = MODELS[model_name]
    options = {} if backbones is None else {"backbones": backbones}
    model = keras_cxr.StackedEnsemble(
        **options, weights=None, input_shape=(image_size, image_size, 3)
    )
    return save_model(model, folder / "model.keras", {"threshold": 0.5})


def phantom_pngs(count: int, size: int) -> list[bytes]:
    import cv2

    from keras_cxr.data.synthetic import make_phantoms

    images = make_phantoms(count, image_size=size, seed=7).images
    return [cv2.imencode(".png", image[..., 0])[1].tobytes() for image in images]


def offline_throughput(model_path: Path, uploads: list[bytes], batch_size: int) -> float:
    """Images per second of `BatchExplainer` on decoded batches (best of 3 passes)."""
    import numpy as np

    from keras_cxr.data import decode_image_bytes
    from keras_cxr.explain import BatchExplainer

    explainer = BatchExplainer(model_path, batch_size=batch_size)
    images = np.stack(
        [decode_image_bytes(data, image_size=explainer.image_size) for data in uploads]
    )
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    explainer({"image": batches[0]})  # every shape compiled
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for batch in batches:
            explainer({"image": batch})
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def start_server(
    model_path: Path, port: int, batch_size: int, max_queue_wait: float | None = None
) -> subprocess.Popen:
    """`keras_cxr.serve.serve` in its own process; `max_queue_wait` None: the default budget."""
    code = (
        "import sys; from keras_cxr.serve import RequestLimits, serve; "
        "wait = None if sys.argv[2] == 'None' else float(sys.argv[2]); "
        f"serve(sys.argv[1], port={port}, log_level='warning', max_batch_size={batch_size}, "
        "limits=RequestLimits(max_queue_wait=wait))"
    )
    arguments = [str(model_path), str(max_queue_wait)]
    process = subprocess.Popen([sys.executable, "-c", code, *arguments])
    import httpx

    for _ in range(1200):
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit("the server did not start within 5 minutes")


def multipart(data: bytes) -> tuple[bytes, str]:
    """A ready `multipart/form-data` body holding `data` in the field `file`."""
    boundary = "keras-cxr-benchmark-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def load(port: int, bodies: list, clients: int, per_client: int, images: str = "overlays") -> dict:
    """`clients` threads each sending `per_client` requests; latencies, throughput, errors.

    The clients send prepared bodies over kept-alive `http.client` connections, the
    lightest load generator Python has, so that they take little of the server's CPU.
    """
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_together = threading.Barrier(clients)

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start_together.wait()
        for request in range(per_client):
            body, content_type = bodies[(index * per_client + request) % len(bodies)]
            started = time.perf_counter()
            try:
                connection.request(
                    "POST", f"/v1/explain?images={images}", body, {"Content-Type": content_type}
                )
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                errors[0] += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    nan = float("nan")
    return {
        "requests": clients * per_client,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else nan,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else nan,
        "throughput": len(latencies) / wall,
        "errors": errors[0],
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_run(port: int, bodies: list, pid: int, total: int, clients: int, images: str) -> list:
    """RSS of the server after every `total / 10` requests, sent by `clients` clients."""
    samples = [(0, rss_mb(pid))]
    step = max(clients, total // 10)
    done = 0
    while done < total:
        load(port, bodies, clients, max(1, step // clients), images)
        done += clients * max(1, step // clients)
        samples.append((done, rss_mb(pid)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="compact")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--phantom-size", type=int, default=384, help="side of the uploads")
    parser.add_argument(
        "--requests", type=int, default=24, help="requests per client (÷ clients/4)"
    )
    parser.add_argument("--rss-requests", type=int, default=2000)
    parser.add_argument(
        "--rss-images", choices=("overlays", "colormaps", "none"), default="colormaps"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    uploads = phantom_pngs(32, args.phantom_size)
    names = " + ".join(MODELS[args.model] or ["default StackedEnsemble"])
    print(
        f"model {names} at {args.image_size} px, uploads {args.phantom_size} px PNG "
        f"(~{sum(map(len, uploads)) // len(uploads) // 1024} KB), {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as folder:
        model_path = write_model(Path(folder), args.image_size, args.model)
        offline = offline_throughput(model_path, uploads, args.batch_size)
        print(f"\noffline BatchExplainer, batch {args.batch_size}: {offline:.1f} images/s")
        # No admission control: this measures the throughput ceiling, not latency.
        server = start_server(model_path, args.port, args.batch_size, math.inf)
        bodies = [multipart(data) for data in uploads]
        try:
            load(args.port, bodies, 4, 4)  # warm the server's threads and connections
            print(f"\n{'images':>10}{'clients':>8}{'requests':>10}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'req/s':>8}{'errors':>8}{'÷ offline':>11}")  # fmt: skip
            plan = [("overlays", c) for c in (1, 4, 16)] + [("colormaps", 16)]
            plan += [("none", c) for c in (1, 4, 16)]
            for images, clients in plan:
                per_client = max(2, args.requests * 4 // max(clients, 4))
                run = load(args.port, bodies, clients, per_client, images)
                print(
                    f"{images:>10}{clients:>8}{run['requests']:>10}{run['p50_ms']:>9.0f}"
                    f"{run['p99_ms']:>9.0f}{run['throughput']:>8.1f}{run['errors']:>8}"
                    f"{run['throughput'] / offline:>11.2f}"
                )
            print(f"(÷ offline: throughput over the offline BatchExplainer's at batch "
                  f"{args.batch_size}; target at 16 clients: >= 0.8)")  # fmt: skip
            samples = memory_run(
                args.port, bodies, server.pid, args.rss_requests, 16, args.rss_images
            )
            print(f"\nserver RSS over {samples[-1][0]} more requests, images={args.rss_images}"
                  " (MB):")  # fmt: skip
            print("  " + "  ".join(f"{done}: {mb:.0f}" for done, mb in samples))
            growth = samples[-1][1] - samples[1][1]
            print(f"  growth after the first {samples[1][0]} requests: {growth:+.0f} MB")
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    main()
