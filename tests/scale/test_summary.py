"""`ExplainFolderSummary`: throughput and the lines the command line prints."""

from __future__ import annotations

from pathlib import Path

from keras_cxr.scale import ExplainFolderSummary


def test_throughput_counts_skipped_files_over_the_loop_time():
    summary = ExplainFolderSummary(Path("out"), 90, 10, 0, seconds=30.0, explaining_seconds=25.0)
    assert summary.images_per_second == 4.0
    assert ExplainFolderSummary(Path("o"), 0, 0, 5, 1.0, 0.0).images_per_second == 0.0


def test_the_steady_rate_leaves_out_the_start_up():
    summary = ExplainFolderSummary(Path("out"), 90, 10, 0, 30.0, 28.0, startup_seconds=5.0)
    assert summary.steady_images_per_second == 100 / 25.0
    assert ExplainFolderSummary(Path("o"), 4, 0, 0, 2.0, 2.0, 2.0).steady_images_per_second == 0.0


def test_the_printed_lines_name_every_output():
    summary = ExplainFolderSummary(
        Path("out"),
        explained=8,
        skipped=1,
        resumed=4,
        seconds=2.0,
        explaining_seconds=1.5,
        startup_seconds=0.5,
        tables=[Path("out/results/part-00000.csv")],
        skipped_files=[Path("out/skipped/part-00000.csv")],
        heatmaps=[Path("out/heatmaps/part-00000.npz")],
        overlays=Path("out/overlays"),
    )
    assert str(summary).splitlines() == [
        "Explained 8 images in 2.0 s (6.0 images/s, 0.5 s of start-up); skipped 1; 4 already done.",
        "  table     out/results (1 part)",
        "  heatmaps  out/heatmaps (1 shard)",
        "  overlays  out/overlays",
        "  skipped   out/skipped (path and reason of each file)",
    ]
