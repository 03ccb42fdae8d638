"""Is an archive run safe from power loss over the issue's 50 commits, at many random points?

`tests/scale/test_power_loss.py` injects faults through a layer that stands in for the
disk (`os.fsync` records what reached it; at the fault `os.replace` raises; for a power
loss, every file whose data was never fsynced is then cut to 0 bytes and every rename
whose folder was never fsynced is undone), then checks that no empty or torn part is
read as done and that a resumed run ends with the uninterrupted table. CI runs it on 9
commits at 6 points per mode; this script runs the same module on `--commits` commits
(shards of 2 phantoms, 4 renames each) at `--faults` random renames, and prints how many
runs held.

Dropping the page cache (`echo 3 > /proc/sys/vm/drop_caches`) would not simulate a power
loss: the kernel writes dirty pages back before it drops them. The fault layer loses
exactly what a power loss may lose, which a real machine cannot be made to do on demand.

Usage:
    python benchmarks/power_loss.py [--commits 50] [--faults 30] [--mode power-loss|disk-error|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/scale/test_power_loss.py"
# -k on the ids "power loss-N" and "disk error-N" (the module name holds "power" and "loss").
MODES = {"power-loss": "not disk", "disk-error": "disk", "both": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--faults", type=int, default=30, help="random rename points")
    parser.add_argument("--mode", choices=sorted(MODES), default="power-loss")
    args = parser.parse_args()
    if args.commits < 4 or args.faults < 1:
        raise SystemExit("--commits must be >= 4 and --faults >= 1")

    env = {
        **os.environ,
        "KERAS_CXR_POWER_LOSS_COMMITS": str(args.commits),
        "KERAS_CXR_POWER_LOSS_FAULTS": str(args.faults),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"]
    if MODES[args.mode]:
        command += ["-k", MODES[args.mode]]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    renames = 1 + 4 * args.commits
    print(f"{args.commits} commits ({2 * args.commits} images, {renames} renames), faults at "
          f"{min(args.faults, renames)} random renames, mode {args.mode}: {summary} "
          f"in {seconds:.0f} s")  # fmt: skip
    print(
        "target: every run passes (no empty or torn part read as done; the resumed table "
        "equals the uninterrupted one)"
    )
    if done.returncode:
        print(done.stdout[-4000:])
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
