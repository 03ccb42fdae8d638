"""The reference pneumonia pipeline: training with feature caching, evaluation, reports.

Example:
    >>> from keras_cxr.training import TrainConfig, train
    >>> result = train(TrainConfig.recipe("offline", data="chest_xray", out="runs/offline"))
    >>> result.val_metrics["roc_auc"]
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers, IDEs and the API docs
    from keras_cxr.training.calibrating import (
        ValidationCalibration,
        calibrate_multiclass_on_validation,
        calibrate_on_validation,
    )
    from keras_cxr.training.checkpoints import BestCheckpoint, TrainingSnapshot, read_snapshot
    from keras_cxr.training.config import RECIPES, TrainConfig
    from keras_cxr.training.demo import DemoResult, run_demo
    from keras_cxr.training.evaluation import Evaluation, evaluate_model
    from keras_cxr.training.explaining import ExplainedImage, explain_files
    from keras_cxr.training.explanation_evaluation import (
        ExplanationEvaluation,
        evaluate_explanations,
    )
    from keras_cxr.training.features import extract_features, feature_batches
    from keras_cxr.training.finding_thresholds import finding_metadata, select_finding_thresholds
    from keras_cxr.training.history import read_history
    from keras_cxr.training.model_building import build_model
    from keras_cxr.training.model_card_markdown import render_model_card
    from keras_cxr.training.model_cards import model_card, write_model_card
    from keras_cxr.training.model_versions import list_models
    from keras_cxr.training.multiclass_evaluation import MulticlassEvaluation, evaluate_multiclass
    from keras_cxr.training.multiclass_shift import MulticlassShiftValidation
    from keras_cxr.training.multilabel_evaluation import evaluate_multilabel
    from keras_cxr.training.multilabel_objective import (
        MaskedBinaryCrossentropy,
        finding_class_weights,
    )
    from keras_cxr.training.multilabel_trainer import MultiLabelResult, train_multilabel
    from keras_cxr.training.progress import EpochProgress
    from keras_cxr.training.reporting import ReportResult, write_report
    from keras_cxr.training.resume import ResumeState, StageResume
    from keras_cxr.training.run_folder import RunExistsError, check_writable
    from keras_cxr.training.shift_validation import ShiftValidation, format_shift_report
    from keras_cxr.training.trainer import TrainResult, train

#: Public name → the module of this package that defines it. Imported on first use, so
#: `keras_cxr.training.config` (which the command line reads for its flags) loads no Keras.
_EXPORTS = {
    "ValidationCalibration": "calibrating",
    "calibrate_multiclass_on_validation": "calibrating",
    "calibrate_on_validation": "calibrating",
    "BestCheckpoint": "checkpoints",
    "TrainingSnapshot": "checkpoints",
    "read_snapshot": "checkpoints",
    "RECIPES": "config",
    "TrainConfig": "config",
    "DemoResult": "demo",
    "run_demo": "demo",
    "Evaluation": "evaluation",
    "evaluate_model": "evaluation",
    "ExplanationEvaluation": "explanation_evaluation",
    "evaluate_explanations": "explanation_evaluation",
    "ExplainedImage": "explaining",
    "explain_files": "explaining",
    "extract_features": "features",
    "feature_batches": "features",
    "finding_metadata": "finding_thresholds",
    "select_finding_thresholds": "finding_thresholds",
    "read_history": "history",
    "build_model": "model_building",
    "model_card": "model_cards",
    "write_model_card": "model_cards",
    "render_model_card": "model_card_markdown",
    "list_models": "model_versions",
    "MulticlassEvaluation": "multiclass_evaluation",
    "evaluate_multiclass": "multiclass_evaluation",
    "MulticlassShiftValidation": "multiclass_shift",
    "MaskedBinaryCrossentropy": "multilabel_objective",
    "MultiLabelResult": "multilabel_trainer",
    "evaluate_multilabel": "multilabel_evaluation",
    "train_multilabel": "multilabel_trainer",
    "finding_class_weights": "multilabel_objective",
    "EpochProgress": "progress",
    "ReportResult": "reporting",
    "write_report": "reporting",
    "ResumeState": "resume",
    "StageResume": "resume",
    "RunExistsError": "run_folder",
    "check_writable": "run_folder",
    "ShiftValidation": "shift_validation",
    "format_shift_report": "shift_validation",
    "TrainResult": "trainer",
    "train": "trainer",
}

__all__ = [
    "RECIPES",
    "BestCheckpoint",
    "DemoResult",
    "EpochProgress",
    "Evaluation",
    "ExplainedImage",
    "ExplanationEvaluation",
    "MaskedBinaryCrossentropy",
    "MultiLabelResult",
    "MulticlassEvaluation",
    "MulticlassShiftValidation",
    "ReportResult",
    "ResumeState",
    "RunExistsError",
    "ShiftValidation",
    "StageResume",
    "TrainConfig",
    "TrainResult",
    "TrainingSnapshot",
    "ValidationCalibration",
    "build_model",
    "calibrate_multiclass_on_validation",
    "calibrate_on_validation",
    "check_writable",
    "evaluate_explanations",
    "evaluate_model",
    "evaluate_multiclass",
    "evaluate_multilabel",
    "explain_files",
    "extract_features",
    "feature_batches",
    "finding_class_weights",
    "finding_metadata",
    "format_shift_report",
    "list_models",
    "model_card",
    "read_history",
    "read_snapshot",
    "render_model_card",
    "run_demo",
    "select_finding_thresholds",
    "train",
    "train_multilabel",
    "write_model_card",
    "write_report",
]

#: Names that lived here before each concept got its own subpackage: old name → new home.
#: They keep working, with a `DeprecationWarning` naming the new import.
_MOVED = {
    "COMPACT_BACKBONES": "keras_cxr.layers",
    "build_compact_backbone": "keras_cxr.layers",
    "compact_cnn": "keras_cxr.layers",
    "MIN_IMAGE_SIDE": "keras_cxr.data",
    "ImageSet": "keras_cxr.data",
    "ImageSplits": "keras_cxr.data",
    "load_image_folder": "keras_cxr.data",
    "load_image_splits": "keras_cxr.data",
    "read_images": "keras_cxr.data",
    "HeadModel": "keras_cxr.models",
    "feature_extractor": "keras_cxr.models",
    "head_layers": "keras_cxr.models",
    "positive_probability": "keras_cxr.models",
    "predict_probabilities": "keras_cxr.models",
    "read_metadata": "keras_cxr.models",
    "save_model": "keras_cxr.models",
    "mc_dropout_predict": "keras_cxr.metrics",
    "atomic": "keras_cxr",
    "plots": "keras_cxr.viz",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"keras_cxr.training.{_EXPORTS[name]}"), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    if name not in _MOVED:
        raise AttributeError(f"module 'keras_cxr.training' has no attribute {name!r}")
    home = _MOVED[name]
    warnings.warn(
        f"keras_cxr.training.{name} moved to {home}.{name}; import it from there.",
        DeprecationWarning,
        stacklevel=2,
    )
    module = importlib.import_module(home)
    if name in ("atomic", "plots"):
        return importlib.import_module(f"{home}.{name}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
