"""`FederatedConfig`: the settings of `keras_cxr.federated.federate`.

The local training is a `keras_cxr.training.TrainConfig` recipe (the offline one by
default) with `epochs` set to the local epochs of a round; `train_config` derives it, so
the federation's settings and the pipeline's have one source. Like
`keras_cxr.training.config`, it loads no Keras.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.federated.privacy import DifferentialPrivacy
from keras_cxr.federated.sites import parse_sites
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.recipes import RECIPES

#: Settings that may change when a run is resumed (left out of `fingerprint`).
RESUMABLE = ("rounds", "out", "resume", "overwrite", "progress")


@dataclass
class FederatedConfig:
    """Settings of a federated training run.

    Attributes:
        data: The Kermany-layout folder a simulated partition cuts into sites (None for
            real site folders).
        sites: `"iid:K"`, `"label:K"`, `"cohort"` or `"DIR,DIR,..."`
            (`keras_cxr.federated.parse_sites`).
        rounds: Federated rounds.
        out: The run folder.
        recipe: The `keras_cxr.training.RECIPES` recipe each site trains with.
        local_epochs: Epochs each site trains per round.
        alpha: Dirichlet concentration of `label:K` (smaller, more skew).
        image_size: Input side; None keeps the recipe's.
        batch_size: Batch size; None keeps the recipe's.
        max_images: At most this many images per split of each site (quick runs).
        val_fraction: Share of each site's patients in its validation split.
        test_fraction: Share of the patients held out for the final test when the folder
            has no `test/` (simulated sites only).
        gradcam_images: Validation images each site explains during local training;
            None keeps the recipe's.
        operating_point: Spec of the final threshold; None is Youden's.
        seed: Seed of the partition, the initial weights, the local shuffles and the
            privacy noise.
        dp_clipping_norm: Differential privacy: clip each site's update to this L2 norm
            and add noise to the average (`keras_cxr.federated.DifferentialPrivacy`);
            None trains without.
        dp_noise_multiplier: The noise's standard deviation in units of
            `dp_clipping_norm / sites`.
        progress: Print a line per round.
        resume: Continue the interrupted run in `out` from its last completed round.
        overwrite: Replace a previous run in `out`.

    Example:
        >>> config = keras_cxr.federated.FederatedConfig("chest_xray", "label:3", rounds=5)
        >>> config.train_config().epochs
        1
    """

    data: str | os.PathLike | None = None
    sites: str = "iid:3"
    rounds: int = 5
    out: str | os.PathLike = "runs/federated"
    recipe: str = "offline"
    local_epochs: int = 1
    alpha: float = 0.5
    image_size: int | None = None
    batch_size: int | None = None
    max_images: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    gradcam_images: int | None = None
    operating_point: str | None = None
    seed: int = 0
    dp_clipping_norm: float | None = None
    dp_noise_multiplier: float = 1.0
    progress: bool = True
    resume: bool = False
    overwrite: bool = False

    def validate(self) -> None:
        """Checks the settings (and those of the local `TrainConfig`).

        Raises:
            ValueError: Naming the first invalid setting.

        Example:
            >>> keras_cxr.federated.FederatedConfig("d", rounds=0).validate()
            Traceback (most recent call last):
            ValueError: Invalid value received for argument `rounds`. ...
        """
        check_int("rounds", self.rounds)
        check_int("local_epochs", self.local_epochs)
        if self.recipe not in RECIPES:
            raise invalid_value("recipe", f"one of {sorted(RECIPES)}", self.recipe)
        if not self.alpha > 0:
            raise invalid_value("alpha", "a float > 0", self.alpha)
        self.privacy()
        kind, _ = parse_sites(self.sites)
        if kind != "folders" and self.data is None:
            raise ValueError(
                f"--sites {self.sites} partitions one folder: pass it as `data` (--data)."
            )
        self.train_config()

    def train_config(self) -> TrainConfig:
        """The local training settings: the recipe at this run's sizes, `local_epochs` epochs.

        Shift-aware validation and TensorBoard are off at the sites (the federation
        evaluates each round itself), and so are the pipeline's progress bars.

        Returns:
            A validated `keras_cxr.training.TrainConfig`.

        Example:
            >>> keras_cxr.federated.FederatedConfig("d", recipe="demo").train_config().image_size
            64
        """
        overrides: dict[str, Any] = {
            "data": self.data,
            "epochs": self.local_epochs,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "shift_validation": False,
            "tensorboard": False,
            "progress": False,
            "max_images": self.max_images,
        }
        for name in ("image_size", "batch_size", "gradcam_images", "operating_point"):
            if getattr(self, name) is not None:
                overrides[name] = getattr(self, name)
        return TrainConfig.recipe(self.recipe, **overrides)

    def privacy(self) -> DifferentialPrivacy | None:
        """The differential privacy settings, or None without `dp_clipping_norm`.

        Returns:
            A `keras_cxr.federated.DifferentialPrivacy`, or None.

        Raises:
            ValueError: For a clipping norm <= 0 or a negative noise multiplier.

        Example:
            >>> keras_cxr.federated.FederatedConfig("d", dp_clipping_norm=0.5).privacy()
            DifferentialPrivacy(clipping_norm=0.5, noise_multiplier=1.0)
        """
        if self.dp_clipping_norm is None:
            return None
        return DifferentialPrivacy(self.dp_clipping_norm, self.dp_noise_multiplier)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-friendly values (paths as strings).

        Returns:
            Field name → value.

        Example:
            >>> keras_cxr.federated.FederatedConfig("d").to_dict()["sites"]
            'iid:3'
        """
        values = dataclasses.asdict(self)
        return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in values.items()}

    def fingerprint(self) -> str:
        """A hash of what is trained: every setting but `rounds`, `out` and the run flags.

        Returns:
            16 hexadecimal digits; a run resumes only with the same fingerprint.

        Example:
            >>> a = keras_cxr.federated.FederatedConfig("d", rounds=2)
            >>> a.fingerprint() == keras_cxr.federated.FederatedConfig("d", rounds=9).fingerprint()
            True
        """
        relevant = {k: v for k, v in self.to_dict().items() if k not in RESUMABLE}
        relevant["data"] = os.path.abspath(relevant["data"]) if relevant["data"] else None
        text = json.dumps(relevant, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = ["RESUMABLE", "FederatedConfig"]
