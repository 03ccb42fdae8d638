"""Griffe extension: read keras_cxr's `Example:` docstring sections as examples.

keras_cxr writes `Example:` (singular), as STYLE.md and Napoleon allow, but griffe's
Google parser only knows `Examples:`; without this extension every example would be
rendered as an admonition full of `>>>` quote marks instead of highlighted code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename `Example:` section titles to `Examples:` before docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _SINGULAR.sub(r"\g<indent>Examples:", docstring.value)
