"""`TrainConfig`: fields, recipes, validation, fingerprints, and the flags made from them."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys

import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import build_parser
from keras_cxr.training import RECIPES, TrainConfig
from keras_cxr.training import config as config_module

FIELDS = {setting.name: setting for setting in dataclasses.fields(TrainConfig)}
FLAGGED = [setting for setting in FIELDS.values() if setting.metadata.get("cli", True)]


def _train_actions() -> dict[str, argparse.Action]:
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return {action.dest: action for action in train._actions}


def _flag(setting: dataclasses.Field) -> str:
    return setting.metadata.get("flag", "--" + setting.name.replace("_", "-"))


# ----------------------------------------------------------------- fields
def test_every_field_has_help_and_is_documented():
    documented = TrainConfig.__doc__.split("Attributes:")[1]
    for name, setting in FIELDS.items():
        assert isinstance(setting.metadata.get("help"), str) and setting.metadata["help"], name
        assert f"\n        {name}: " in documented, f"{name} is missing from Attributes"


def test_the_defaults_are_the_seed_recipe():
    assert RECIPES["seed"] == {}
    assert TrainConfig.recipe("seed") == TrainConfig()
    config = TrainConfig()
    assert (config.backbones, config.image_size, config.weights) == (
        ("mobilenet_v2", "densenet169"),
        224,
        "imagenet",
    )
    assert (config.head_units, config.dropout, config.learning_rate) == ((256, 128), 0.5, 1e-4)
    assert (config.batch_size, config.epochs, config.patience) == (16, 20, 6)
    assert config.mode == "cached_features"


def _imports_outside_the_standard_library(module) -> set[str]:
    with open(module.__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    return {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}


def test_the_settings_module_imports_only_the_standard_library():
    from keras_cxr.training import config_checks, recipes

    assert _imports_outside_the_standard_library(config_module) == {
        "keras_cxr._validation",
        "keras_cxr.training.config_checks",
        "keras_cxr.training.recipes",
    }
    assert _imports_outside_the_standard_library(recipes) == set()
    assert _imports_outside_the_standard_library(config_checks) == {"keras_cxr._validation"}


# ----------------------------------------------------------------- recipes
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_sets_known_fields_and_validates(name):
    assert set(RECIPES[name]) <= set(FIELDS)
    config = TrainConfig.recipe(name, data="chest_xray")
    assert config.recipe_name == name
    for field_name, value in RECIPES[name].items():
        assert getattr(config, field_name) == value


def test_overrides_win_over_the_recipe():
    config = TrainConfig.recipe("offline", epochs=3, image_size=96)
    assert (config.epochs, config.image_size, config.weights) == (3, 96, None)
    assert config.mode == "end_to_end"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "shifted"),
        ({"labels": "three_class"}, "validation"),  # no threshold: the recipe's is dropped
        ({"shift_validation": False}, "validation"),  # no shifted copies to choose it on
        ({"threshold_data": "validation"}, "validation"),
    ],
)
def test_the_offline_threshold_data_applies_only_where_there_is_a_threshold(overrides, expected):
    config = TrainConfig.recipe("offline", data="chest_xray", **overrides)
    assert config.threshold_data == expected


def test_an_explicit_setting_that_cannot_apply_is_still_refused():
    with pytest.raises(ValueError, match=r"argument `threshold_data`.*arg-max decides"):
        TrainConfig.recipe(
            "offline", data="chest_xray", labels="three_class", threshold_data="shifted"
        )


def test_an_unknown_recipe_is_refused():
    with pytest.raises(ValueError) as error:
        TrainConfig.recipe("fast")
    assert str(error.value) == (
        "Invalid value received for argument `recipe`. Expected one of ['demo', 'offline', "
        "'pretrained', 'seed']. Received: recipe='fast'"
    )


# ----------------------------------------------------------------- validate
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "`epochs`. Expected an integer >= 1. Received: epochs=0"),
        ({"epochs": 2.0}, "`epochs`. Expected an integer >= 1. Received: epochs=2.0"),
        ({"epochs": True}, "`epochs`. Expected an integer >= 1. Received: epochs=True"),
        ({"patience": -1}, "`patience`. Expected an integer >= 0. Received: patience=-1"),
        ({"max_images": 1}, "`max_images`. Expected an integer >= 2. Received: max_images=1"),
        (
            {"monitor": "loss"},
            "`monitor`. Expected one of ['val_loss', 'val_auc', 'val_accuracy']. "
            "Received: monitor='loss'",
        ),
        (
            {"threshold_method": "max"},
            "`threshold_method`. Expected one of ['youden', 'f1', 'sensitivity', 'specificity']. "
            "Received: threshold_method='max'",
        ),
        ({"backbones": ()}, "`backbones`. Expected a non-empty list of backbone names."),
        ({"backbones": ("a", 1)}, "`backbones`. Expected backbone names."),
        ({"head_units": (8, 0)}, "`head_units`. Expected positive integers."),
        ({"dropout": 1.0}, "`dropout`. Expected a float in [0, 1). Received: dropout=1.0"),
        ({"learning_rate": 0}, "`learning_rate`. Expected a positive float."),
        ({"lr_factor": 1.0}, "`lr_factor`. Expected a float in (0, 1)."),
        ({"val_fraction": 0.0}, "`val_fraction`. Expected a float in (0, 1)."),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "`test_fraction`. Expected a float in"),
        ({"weights": "missing.weights.h5"}, "`weights`. Expected 'imagenet', None or an"),
        ({"train_backbones": True, "fine_tune_last": 3}, "`fine_tune_last`. Expected 0 when"),
        ({"resume": True, "overwrite": True}, "`overwrite`. Expected False together with"),
    ],
)
def test_invalid_settings_are_named_in_keras_wording(settings, message):
    with pytest.raises(ValueError) as error:
        TrainConfig(**settings).validate()
    assert type(error.value) is ValueError
    assert str(error.value).startswith(f"Invalid value received for argument {message}")


def test_the_minimum_of_every_integer_setting_is_accepted():
    minimums = {
        setting.name: setting.metadata["minimum"]
        for setting in FIELDS.values()
        if "minimum" in setting.metadata
    }
    assert minimums == {
        "image_size": 1,
        "batch_size": 1,
        "epochs": 1,
        "patience": 0,
        "lr_patience": 1,
        "augmented_views": 0,
        "fine_tune_last": 0,
        "fine_tune_epochs": 0,
        "gradcam_images": 0,
        "gradcam_every": 1,
        "max_images": 2,
    }
    TrainConfig(**minimums).validate()
    TrainConfig(max_images=None).validate()


def test_every_threshold_method_is_one_that_select_threshold_knows():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    for method in config_module.THRESHOLD_METHODS:
        threshold = keras_cxr.metrics.select_threshold(labels, scores, method=method)
        assert 0 <= threshold <= 1
    with pytest.raises(ValueError, match="`method`"):
        keras_cxr.metrics.select_threshold(labels, scores, method="not_a_method")


# ----------------------------------------------------------------- to_dict and fingerprint
def test_to_dict_is_json_friendly():
    from pathlib import Path

    values = TrainConfig(data=Path("chest_xray"), out=Path("runs/x")).to_dict()
    assert values["data"] == "chest_xray" and values["out"] == "runs/x"
    assert values["backbones"] == ["mobilenet_v2", "densenet169"]
    assert json.loads(json.dumps(values)) == values
    assert set(values) == set(FIELDS)


def test_fingerprints_are_stable_across_versions():
    # Computed before the settings moved into field metadata: runs interrupted then must
    # still resume now.
    assert TrainConfig().fingerprint() == "e42f506f4b7d5bb7"
    # The offline recipe as it was before it augmented intensity (a different training,
    # so the new recipe has a new fingerprint).
    old_offline = TrainConfig.recipe("offline", augmentation="geometric")
    assert old_offline.fingerprint() == "81fe17fac1b7826d"
    assert TrainConfig.recipe("offline").fingerprint() != "81fe17fac1b7826d"
    demo = TrainConfig.recipe("demo", data="/data/cxr", epochs=3)
    assert demo.fingerprint() == "d582bd1cc6a6d9e0"


def test_only_settings_that_change_what_is_trained_change_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = TrainConfig(data="chest_xray")
    resumable = {
        "out": "elsewhere",
        "resume": True,
        "progress": False,
        "epochs": 40,
        "fine_tune_epochs": 2,
        "tensorboard": False,
        "gradcam_every": 1,
    }
    for name, value in resumable.items():
        assert TrainConfig(data="chest_xray", **{name: value}).fingerprint() == base.fingerprint()
    assert TrainConfig(data=tmp_path / "chest_xray").fingerprint() == base.fingerprint()
    for name, value in {"learning_rate": 1e-3, "seed": 1, "data": "other", "augment": True}.items():
        assert TrainConfig(**{"data": "chest_xray", name: value}).fingerprint() != (
            base.fingerprint()
        ), name


# ----------------------------------------------------------------- the generated flags
def test_every_setting_has_its_flag_and_every_flag_a_setting():
    actions = _train_actions()
    for setting in FLAGGED:
        action = actions[setting.name]
        assert action.option_strings[0] == _flag(setting)
        assert action.default is argparse.SUPPRESS, setting.name
        assert action.help.replace("%%", "%").startswith(setting.metadata["help"])
        assert action.required is bool(setting.metadata.get("required"))
    # --labels-csv and --uncertainty choose the multi-label task (keras_cxr.cli.train's
    # add_label_csv_options), not a TrainConfig setting.
    extra = {"help", "recipe", "labels_csv", "uncertainty"}
    assert set(actions) - {s.name for s in FLAGGED} == extra
    assert [s.name for s in FIELDS.values() if s not in FLAGGED] == ["recipe_name"]


def test_the_flags_keep_their_names():
    names = {option for action in _train_actions().values() for option in action.option_strings}
    existing = (
        "--data --out --recipe --weights --backbones --image-size --epochs --batch-size "
        "--learning-rate --dropout --head-units --patience --monitor --augmented-views "
        "--no-cache-features --train-backbones --augment --fine-tune-last --fine-tune-epochs "
        "--fine-tune-lr --val-fraction --test-fraction --max-images --gradcam-images "
        "--gradcam-every --no-class-weights --no-tensorboard --seed --resume --overwrite --quiet"
    )
    assert set(existing.split(" ")) <= names


def _written(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


@pytest.mark.parametrize("setting", FLAGGED, ids=lambda setting: setting.name)
def test_each_flag_parses_to_its_setting(setting):
    parser = build_parser()
    command = ["train", "--data", "chest_xray"]
    if setting.name == "data":
        expected, flags = "chest_xray", []
    elif setting.type == "bool" and "flag" in setting.metadata:
        expected, flags = not setting.default, [_flag(setting)]
    elif setting.type == "bool":
        expected, flags = False, ["--no-" + setting.name.replace("_", "-")]
    else:
        choices = setting.metadata.get("choices")
        expected = {"weights": None, "max_images": 7}.get(
            setting.name, choices[-1] if choices else setting.default
        )
        flags = [_flag(setting), "none" if expected is None else _written(expected)]
    args = parser.parse_args([*command, *flags])
    assert getattr(args, setting.name) == expected
    given = {name for name in FIELDS if hasattr(args, name)}
    assert given == {"data", setting.name}


# ----------------------------------------------------------------- the three-class task
def test_label_sets_are_those_of_the_data_layer():
    from keras_cxr.data import CLASS_NAMES, LABEL_SETS

    assert config_module.LABEL_SETS == LABEL_SETS
    assert all(labels in CLASS_NAMES for labels in LABEL_SETS)


def test_three_class_config_has_three_outputs_and_its_own_fingerprint():
    binary = TrainConfig(data="chest_xray")
    three = TrainConfig(data="chest_xray", labels="three_class")
    assert (binary.num_classes, three.num_classes) == (1, 3)
    assert three.fingerprint() != binary.fingerprint()
    # Binary runs keep their fingerprint (see test_fingerprints_are_stable_across_versions).
    assert TrainConfig(data="chest_xray", labels="binary").fingerprint() == binary.fingerprint()
    with pytest.raises(ValueError, match=r"argument `labels`.*'five_class'"):
        TrainConfig(labels="five_class").validate()


def test_three_class_has_no_threshold_to_choose_on_the_shifted_copies():
    TrainConfig(data="chest_xray", labels="three_class").validate()
    with pytest.raises(ValueError, match=r"argument `threshold_data`.*arg-max decides"):
        TrainConfig(data="chest_xray", labels="three_class", threshold_data="shifted").validate()
