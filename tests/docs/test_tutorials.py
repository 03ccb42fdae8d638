"""Every Python code block of the documentation runs, page by page.

The ```python blocks of one page run in order, in one namespace, in a fresh temporary
working directory, exactly as a reader would paste them. A block opts out only with an
HTML comment on the line before its fence, giving the reason:

    <!-- skip-test: downloads the ImageNet weights -->

A failing block is reported with its page and line: the code is compiled with the page as
its file name and its own line numbers, so tracebacks point into the Markdown.

Output shown in the pages is checked too: comment lines that directly follow a `print(...)`
call are its expected output, and must appear in what the block printed (compared without
whitespace, so long outputs may be wrapped over several comment lines).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)(?P<rest>.*)$")
_SKIP = re.compile(r"^\s*<!--\s*skip-test\b(?P<reason>.*?)-->\s*$")
_PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block: where it starts, its language, code and skip reason."""

    page: Path
    line: int  # 1-based line of the first code line
    language: str
    code: str
    skip_reason: str | None


def code_blocks(page: Path) -> list[CodeBlock]:
    """All fenced code blocks of a Markdown page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    previous = ""  # last non-blank line before the current one
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                previous = lines[index]
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body = []
        index += 1
        start = index + 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"]
            ):
                break
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        skip = _SKIP.match(previous)
        reason = None
        if skip is not None:
            reason = skip["reason"].lstrip(":").strip() or "(no reason given)"
        blocks.append(CodeBlock(page, start, opening["info"].lower(), "\n".join(body), reason))
        previous = ""
        index += 1
    return blocks


def python_blocks(page: Path) -> list[CodeBlock]:
    return [block for block in code_blocks(page) if block.language in _PYTHON]


def expected_outputs(code: str) -> list[tuple[int, str]]:
    """`(line, text)` of the comment lines that follow each `print(...)` call of a block."""
    lines = code.splitlines()
    found = []
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "print"
        ):
            comments = []
            for line in lines[node.end_lineno :]:
                if not line.strip().startswith("#"):
                    break
                comments.append(line.strip()[1:].strip())
            if comments:
                found.append((node.end_lineno + 1, "\n".join(comments)))
    return sorted(found)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


class _Tee(io.StringIO):
    """Keeps what is printed and passes it on to the stream it replaces."""

    def __init__(self, target) -> None:
        super().__init__()
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(text)
        return super().write(text)


PAGES = sorted(page for page in DOCS.rglob("*.md") if python_blocks(page))

#: Pages whose code builds and compiles backbone networks or trains a model: 10-60 s each
#: on 2 CPU cores. The others (DICOM, installation, troubleshooting) take a few seconds.
SLOW_PAGES = {
    "quickstart.md",
    "tutorials/nested-layers.md",
    "tutorials/stacked-ensemble.md",
    "tutorials/training-callback.md",
    "tutorials/pneumonia-classifier.md",
    "tutorials/heatmap-quality.md",
    "tutorials/explaining-an-archive.md",
    "tutorials/federated.md",
}


def _page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def _page_params():
    return [
        pytest.param(page, id=_page_id(page), marks=[pytest.mark.slow])
        if _page_id(page) in SLOW_PAGES
        else pytest.param(page, id=_page_id(page))
        for page in PAGES
    ]


@pytest.fixture(autouse=True)
def _quiet_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("page", _page_params())
def test_page_runs(page: Path, tmp_path, monkeypatch):
    import keras

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    relative = page.relative_to(DOCS.parent).as_posix()
    timings = []
    for block in python_blocks(page):
        if block.skip_reason is not None:
            continue
        # Pad with newlines so that traceback line numbers are the page's line numbers.
        code = compile("\n" * (block.line - 1) + block.code, relative, "exec")
        start = time.perf_counter()
        printed = _Tee(sys.stdout)
        try:
            with contextlib.redirect_stdout(printed):
                exec(code, namespace)
        except BaseException as error:
            error.add_note(f"in the Python block starting at {relative}:{block.line}")
            raise
        timings.append((block.line, time.perf_counter() - start))
        for offset, expected in expected_outputs(block.code):
            assert _squeeze(expected) in _squeeze(printed.getvalue()), (
                f"{relative}:{block.line + offset - 1} shows output that the code did not "
                f"print.\nShown:\n{expected}\nPrinted:\n{printed.getvalue()}"
            )
    keras.backend.clear_session()
    gc.collect()
    print(" ".join(f"{relative}:{line}={seconds:.1f}s" for line, seconds in timings))


def test_slow_pages_exist():
    missing = SLOW_PAGES - {_page_id(page) for page in PAGES}
    assert not missing, f"SLOW_PAGES names pages without Python blocks: {missing}"


def test_every_skip_names_its_reason():
    skipped = [block for page in PAGES for block in python_blocks(page) if block.skip_reason]
    unexplained = [
        f"{_page_id(block.page)}:{block.line}"
        for block in skipped
        if block.skip_reason == "(no reason given)"
    ]
    assert not unexplained, f"skip-test markers without a reason: {unexplained}"
    total = sum(len(python_blocks(page)) for page in PAGES)
    # Skips are for code that cannot run offline; they must stay the exception.
    assert len(skipped) <= max(3, total // 10), [f"{b.page.name}:{b.line}" for b in skipped]


def test_expected_output_is_the_comment_after_a_print():
    code = (
        "x = 1  # not output\n"
        "print(x)\n"
        "# 1\n"
        "for i in range(2):\n"
        "    print(\n"
        "        i)\n"
        "# 0\n"
        "# 1\n"
        "\n"
        "# a remark, not after a print\n"
    )
    assert expected_outputs(code) == [(3, "1"), (7, "0\n1")]


def test_parser_reads_fences_markers_and_indentation(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n"
        "```python\nx = 1\n```\n\n"
        "<!-- skip-test: needs the internet -->\n\n"
        "```python\nraise SystemExit\n```\n\n"
        "```bash\nls\n```\n\n"
        "!!! note\n\n    ```python\n    y = x + 1\n    ```\n"
        "````markdown\n```python\nnot code\n```\n````\n",
        encoding="utf-8",
    )
    blocks = code_blocks(page)
    assert [(b.language, b.line, b.code, b.skip_reason) for b in blocks] == [
        ("python", 4, "x = 1", None),
        ("python", 10, "raise SystemExit", "needs the internet"),
        ("bash", 14, "ls", None),
        ("python", 20, "y = x + 1", None),
        ("markdown", 23, "```python\nnot code\n```", None),
    ]
