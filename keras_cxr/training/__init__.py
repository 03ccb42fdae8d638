"""The reference pneumonia pipeline: training with feature caching, evaluation, reports.

Example:
    >>> from keras_cxr.training import TrainConfig, train
    >>> result = train(TrainConfig.recipe("offline", data="chest_xray", out="runs/offline"))
    >>> result.val_metrics["roc_auc"]
"""

from keras_cxr import atomic
from keras_cxr.training import plots
from keras_cxr.training.checkpoints import BestCheckpoint, TrainingSnapshot, read_snapshot
from keras_cxr.training.compact_cnn import COMPACT_BACKBONES, build_compact_backbone, compact_cnn
from keras_cxr.training.config import RECIPES, TrainConfig
from keras_cxr.training.dataset import (
    MIN_IMAGE_SIDE,
    ImageSet,
    ImageSplits,
    load_image_folder,
    load_image_splits,
    read_images,
)
from keras_cxr.training.demo import DemoResult, run_demo
from keras_cxr.training.evaluation import Evaluation, evaluate_model
from keras_cxr.training.explaining import ExplainedImage, explain_files
from keras_cxr.training.features import (
    HeadModel,
    copy_head_weights,
    extract_features,
    feature_extractor,
    head_layers,
)
from keras_cxr.training.metadata import read_metadata, save_model
from keras_cxr.training.progress import EpochProgress
from keras_cxr.training.reporting import ReportResult, write_report
from keras_cxr.training.trainer import (
    RunExistsError,
    TrainResult,
    build_model,
    check_writable,
    positive_probability,
    predict_probabilities,
    read_history,
    train,
)
from keras_cxr.training.uncertainty import mc_dropout_predict

__all__ = [
    "COMPACT_BACKBONES",
    "MIN_IMAGE_SIDE",
    "RECIPES",
    "BestCheckpoint",
    "DemoResult",
    "EpochProgress",
    "Evaluation",
    "ExplainedImage",
    "HeadModel",
    "ImageSet",
    "ImageSplits",
    "ReportResult",
    "RunExistsError",
    "TrainConfig",
    "TrainResult",
    "TrainingSnapshot",
    "atomic",
    "build_compact_backbone",
    "build_model",
    "check_writable",
    "compact_cnn",
    "copy_head_weights",
    "evaluate_model",
    "explain_files",
    "extract_features",
    "feature_extractor",
    "head_layers",
    "load_image_folder",
    "load_image_splits",
    "mc_dropout_predict",
    "plots",
    "positive_probability",
    "predict_probabilities",
    "read_history",
    "read_images",
    "read_metadata",
    "read_snapshot",
    "run_demo",
    "save_model",
    "train",
    "write_report",
]
