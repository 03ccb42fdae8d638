"""`keras_cxr.data.find_images`: files, folders, patterns and lists, labelled by folder."""

from __future__ import annotations

import os

import pytest

from keras_cxr.data import ImageSource, find_images
from keras_cxr.data.sources import label_of

from ._files import gray_jpeg


@pytest.fixture
def tree(tmp_path):
    """`archive/{test/NORMAL, test/pneumonia/sub, misc}` with images and clutter."""
    root = tmp_path / "archive"
    files = {
        "normal": gray_jpeg(root / "test" / "NORMAL" / "n1.jpeg"),
        "pneumonia": gray_jpeg(root / "test" / "pneumonia" / "sub" / "p1.JPG"),
        "png": gray_jpeg(root / "misc" / "x.png"),
    }
    (root / "test" / "NORMAL" / ".DS_Store").write_bytes(b"clutter")
    (root / "test" / "NORMAL" / "._n1.jpeg").write_bytes(b"AppleDouble")
    (root / "misc" / "notes.txt").write_text("not a list of mine")
    gray_jpeg(root / "__MACOSX" / "NORMAL" / "n1.jpeg")
    return root, files


def test_a_folder_is_searched_recursively_and_labelled(tree):
    root, files = tree
    found = find_images(root)
    assert found == sorted(
        [
            ImageSource(files["png"], ""),
            ImageSource(files["normal"], "NORMAL"),
            ImageSource(files["pneumonia"], "PNEUMONIA"),
        ],
        key=lambda source: source.path,
    )


def test_patterns_lists_and_files_mix_and_repeat_once(tree, tmp_path, monkeypatch):
    root, files = tree
    listing = tmp_path / "lists" / "batch.txt"
    listing.parent.mkdir()
    listing.write_text(
        f"# chosen scans\n\n{os.path.relpath(files['normal'], listing.parent)}\n{root / 'misc'}\n"
    )
    monkeypatch.chdir(root)
    found = find_images([listing, "test/**/*.JPG", str(files["normal"])])
    assert [source.path for source in found] == sorted(
        [files["png"], files["normal"], files["pneumonia"]]
    )
    assert all(source.path.is_absolute() for source in found)


def test_a_file_named_on_purpose_is_kept_whatever_its_extension(tmp_path):
    odd = tmp_path / "PNEUMONIA" / "scan.bmp"
    odd.parent.mkdir()
    odd.write_bytes(b"anything")
    assert find_images(odd) == [ImageSource(odd, "PNEUMONIA")]


def test_label_is_the_nearest_class_folder():
    assert label_of("/data/NORMAL/old/PNEUMONIA/a.png") == "PNEUMONIA"
    assert label_of("/data/normal/x/a.png") == "NORMAL"
    assert label_of("/data/normals/a.png") == ""


def test_missing_sources_and_empty_folders_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No image file or folder at '.*nowhere'"):
        find_images(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"The pattern '.*\*\.dcm' matches no file"):
        find_images(str(tmp_path / "*.dcm"))
    (tmp_path / "empty" / "NORMAL").mkdir(parents=True)
    (tmp_path / "empty" / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match=r"No image found in \[.*empty'\]: expected files ending"):
        find_images(tmp_path / "empty")
    listing = tmp_path / "list.txt"
    listing.write_text("gone.png\n")
    with pytest.raises(FileNotFoundError, match=r"gone\.png' \(listed in '.*list\.txt'\)"):
        find_images(listing)
    with pytest.raises(ValueError, match=r"Expected at least one image file"):
        find_images([])
