"""`ExplainFolderSummary`: what one call of `keras_cxr.explain_folder` did, and where it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class ExplainFolderSummary:
    """Counts, timing and files of one `keras_cxr.explain_folder` call.

    Attributes:
        out: The run folder.
        explained: Images explained by this call.
        skipped: Files this call could not decode (listed in `skipped_files`).
        resumed: Images found done by an earlier, interrupted call and left alone.
        seconds: Wall time of this call, model loading included.
        explaining_seconds: Wall time of the decode-and-explain loop alone.
        startup_seconds: Wall time until the first batch was explained: model loading,
            compilation and, on Ray, the actors' start (0.0 when nothing was explained).
        tables: The results parts of the whole run, in order (`results/part-*.parquet`
            or `.csv`); `keras_cxr.scale.read_results(out)` reads them as one table.
        skipped_files: The skipped-file parts of the whole run (`skipped/part-*.csv`,
            with a `reason` column).
        heatmaps: The heatmap shards of the whole run (`heatmaps/part-*.npz`), if saved.
        overlays: The overlay folder, if overlays were saved, else None.
        pending: Files whose reads kept failing with I/O errors in this call: neither
            explained nor skipped, so the next `resume=True` call tries them again.

    Args:
        out, explained, skipped, resumed, seconds, explaining_seconds: As above.
        startup_seconds: As above.
        tables, skipped_files, heatmaps, overlays, pending: As above.

    Returns:
        The frozen dataclass; `str(summary)` is the few lines the command line prints.

    Raises:
        Nothing of its own: a plain record.

    Example:
        >>> summary = keras_cxr.explain_folder("model.keras", "chest_xray/test", "out")
        >>> summary.explained, round(summary.images_per_second)
        (624, 41)
    """

    out: Path
    explained: int
    skipped: int
    resumed: int
    seconds: float
    explaining_seconds: float
    startup_seconds: float = 0.0
    tables: list[Path] = field(default_factory=list)
    skipped_files: list[Path] = field(default_factory=list)
    heatmaps: list[Path] = field(default_factory=list)
    overlays: Path | None = None
    pending: int = 0

    @property
    def images_per_second(self) -> float:
        """Files handled (explained or skipped) per second of the explaining loop.

        Args:
            None: a property.

        Returns:
            The throughput; 0.0 when nothing was handled.

        Raises:
            Nothing: it divides two stored numbers.

        Example:
            >>> summary.images_per_second
            41.3
        """
        handled = self.explained + self.skipped
        return handled / self.explaining_seconds if handled and self.explaining_seconds else 0.0

    @property
    def steady_images_per_second(self) -> float:
        """Files handled per second after start-up: the rate a longer run approaches.

        Start-up ends when the first batch reaches the writer, so that batch's own
        explaining counts as start-up while its files count as handled: the rate is
        over-stated by one batch in the whole run, which vanishes on a long run.

        Args:
            None: a property.

        Returns:
            The throughput from the first batch to the end; 0.0 when it cannot be told
            (one batch or none).

        Raises:
            Nothing: it divides stored numbers.

        Example:
            >>> summary.steady_images_per_second
            44.0
        """
        steady = self.seconds - self.startup_seconds
        handled = self.explained + self.skipped
        return handled / steady if handled and steady > 0 else 0.0

    def __str__(self) -> str:
        lines = [
            f"Explained {self.explained} images in {self.seconds:.1f} s "
            f"({self.images_per_second:.1f} images/s, {self.startup_seconds:.1f} s of start-up); "
            f"skipped {self.skipped}"
            + (f"; {self.resumed} already done" if self.resumed else "")
            + ".",
            f"  table     {self.out / 'results'} ({_count(len(self.tables), 'part')})",
        ]
        if self.heatmaps:
            shards = _count(len(self.heatmaps), "shard")
            lines.append(f"  heatmaps  {self.out / 'heatmaps'} ({shards})")
        if self.overlays is not None:
            lines.append(f"  overlays  {self.overlays}")
        if self.skipped_files:
            lines.append(f"  skipped   {self.out / 'skipped'} (path and reason of each file)")
        if self.pending:
            lines.append(
                f"  pending   {_count(self.pending, 'file')} kept failing with I/O errors; "
                "resume the run to try again"
            )
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


class ShardCounts(NamedTuple):
    """What `write_shards` wrote: files explained, files skipped, and when it began writing.

    Attributes:
        explained: Rows written to the results table.
        skipped: Files listed as skipped.
        first_batch: `time.perf_counter()` when the first batch arrived (None: none did);
            what comes before it is start-up: model loading, Ray actors starting.
        pending: Files left for a later call after persistent I/O errors. Defaults to 0.

    Example:
        >>> keras_cxr.scale.summary.ShardCounts(40, 1, 12.5).explained
        40
    """

    explained: int
    skipped: int
    first_batch: float | None
    pending: int = 0
