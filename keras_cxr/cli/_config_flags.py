"""Command-line flags generated from the fields of a settings dataclass.

`keras-cxr train` offers every `keras_cxr.training.TrainConfig` field as a flag: its name,
default and help come from the field (the metadata keys are listed in
`keras_cxr.training.config`), so adding a setting adds its flag. A flag that is not given
leaves its setting to the recipe: every flag defaults to `argparse.SUPPRESS`, and
`config_overrides` returns only the settings the command line named.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keras_cxr.cli._arguments import integer_at_least

# Placeholders in the usage line, where the field names none (`--epochs N`, not EPOCHS).
_METAVARS = {int: "N", float: "X", int | None: "N"}


def add_config_flags(
    parser: argparse.ArgumentParser,
    config_class: type,
    recipes: Mapping[str, Mapping[str, Any]],
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Adds one flag per field of the dataclass `config_class` to `parser`.

    Args:
        parser: The parser of the command.
        config_class: A dataclass whose fields carry `help` metadata.
        recipes: Named settings that override the defaults; each flag's help names the
            values that differ from its default (`(default: 20; offline recipe: 8)`).
        choices: Accepted values of fields whose metadata gives none, e.g. names that the
            config module cannot import without loading Keras.
    """
    hints = typing.get_type_hints(config_class)
    for setting in dataclasses.fields(config_class):
        metadata = setting.metadata
        if not metadata.get("cli", True):
            continue
        kind = hints[setting.name]
        single_switch = kind is bool and "flag" in metadata  # `--quiet`, `--resume`
        options: dict[str, Any] = {"dest": setting.name, "default": argparse.SUPPRESS}
        accepted = metadata.get("choices") or (choices or {}).get(setting.name)
        metavar = metadata.get("metavar", _METAVARS.get(kind))
        for key, value in (("choices", accepted), ("metavar", metavar)):
            if value is not None:
                options[key] = value
        if metadata.get("required"):
            options["required"] = True
        if single_switch:
            options.update(action="store_const", const=not setting.default)
        elif kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _parser_of(kind, metadata.get("minimum"))
        text = metadata["help"]
        if not metadata.get("required") and not single_switch:
            text += f" (default: {_describe_default(setting, recipes)})"
        flag = metadata.get("flag", "--" + setting.name.replace("_", "-"))
        parser.add_argument(flag, help=text.replace("%", "%%"), **options)


def config_overrides(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The settings of `config_class` that the command line gave, by field name."""
    return {
        setting.name: getattr(args, setting.name)
        for setting in dataclasses.fields(config_class)
        if hasattr(args, setting.name)
    }


def _parser_of(kind: Any, minimum: int | None) -> Callable[[str], Any]:
    """The `argparse` type of a field annotated `kind`."""
    members = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if int in members:  # `int | None`: the flag takes an int; None stays the default
            return _parser_of(int, minimum)
        return _text_or_none if type(None) in members else str
    if typing.get_origin(kind) is tuple:
        return _comma_separated(_parser_of(members[0], None))
    if kind is int:
        return int if minimum is None else integer_at_least(minimum)
    if kind in (float, str):
        return kind
    raise TypeError(f"No command-line type for a setting annotated {kind!r}.")


def _text_or_none(text: str) -> str | None:
    """A path or name, where the word `none` stands for None (`--weights none`)."""
    return None if text.lower() == "none" else text


def _comma_separated(item: Callable[[str], Any]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        return tuple(item(part.strip()) for part in text.split(",") if part.strip())

    parse.__name__ = "comma-separated list"
    return parse


def _describe_default(setting: dataclasses.Field, recipes: Mapping[str, Mapping]) -> str:
    text = setting.metadata.get("default_text") or _show(setting.default)
    for name, values in recipes.items():
        if setting.name in values and values[setting.name] != setting.default:
            text += f"; {name} recipe: {_show(values[setting.name])}"
    return text


def _show(value: Any) -> str:
    """A setting's value the way it is written on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
