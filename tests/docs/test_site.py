"""The documentation site builds without warnings and documents every public name."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: Packages whose `__all__` is the public API, each documented on some page of docs/api.
PUBLIC_PACKAGES = [
    "keras_cxr",
    "keras_cxr.layers",
    "keras_cxr.models",
    "keras_cxr.explain",
    "keras_cxr.callbacks",
    "keras_cxr.data",
    "keras_cxr.data.synthetic",
    "keras_cxr.metrics",
    "keras_cxr.scale",
    "keras_cxr.scale.ray",
    "keras_cxr.scale.ray_stages",
    "keras_cxr.export",
    "keras_cxr.serve",
    "keras_cxr.federated",
    "keras_cxr.federated.flower",
    "keras_cxr.viz",
    "keras_cxr.training",
]

_DIRECTIVE = re.compile(r"^:::\s+(?P<identifier>[\w.]+)\s*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)")


def _resolve(identifier: str):
    """The object a `:::` path names; like mkdocstrings, a submodule wins over an attribute
    of the same name (`keras_cxr.viz.overlay` is the module, not the function)."""
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ImportError(identifier)


def _documented_objects() -> dict[int, str]:
    found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for match in _DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            found[id(_resolve(match["identifier"]))] = match["identifier"]
    return found


def test_every_public_name_has_an_api_entry():
    documented = _documented_objects()
    missing = []
    for package_name in PUBLIC_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            continue
        for name in getattr(package, "__all__", ()):
            value = getattr(package, name)
            if name.startswith("__") or type(value).__name__ == "module":
                continue
            if id(value) not in documented:
                missing.append(f"{package_name}.{name}")
    assert not missing, f"public names without a `:::` entry in docs/api/: {missing}"


def test_doc_images_exist_and_stay_small():
    referenced = set()
    for page in DOCS.rglob("*.md"):
        for match in _IMAGE.finditer(page.read_text(encoding="utf-8")):
            target = (page.parent / match["target"]).resolve()
            assert target.is_file(), f"{page.relative_to(ROOT)} shows a missing {match['target']}"
            referenced.add(target)
    for image in (DOCS / "images").glob("*"):
        assert image.stat().st_size < 200_000, f"{image.name} is over 200 KB"
        assert image.resolve() in referenced, f"docs/images/{image.name} is not used by any page"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason='the docs extra is not installed: pip install ".[docs]"')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "api" / "explainers" / "index.html").is_file()


def test_every_module_is_listed_in_the_layout_page():
    page = (DOCS / "layout.md").read_text(encoding="utf-8")
    package = ROOT / "keras_cxr"
    modules = [p.relative_to(package).as_posix() for p in package.rglob("*.py")]
    missing = [module for module in modules if f"`{module}`" not in page]
    assert not missing, f"docs/layout.md does not list {missing}"
