"""The generated labeling config: the task's classes, the item's data type, and nothing injectable."""

from __future__ import annotations

import pytest

from alstream.agents.label_studio.exceptions import ProjectConflict
from alstream.agents.label_studio.labeling_config import build, detect_data_type, read


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data:image/png;base64,AAAA", "image"),
        ("https://cdn.example.com/cats/1.JPG?sig=abc", "image"),
        ("s3://bucket/scan.tiff", "image"),
        ("file:///data/images/digit-00001.png", "image"),
        ("https://example.com/doc.txt", "text"),
        ("data:text/plain;base64,aGk=", "text"),
        ("https://example.com/image.png.html", "text"),
        (None, "text"),
        ("", "text"),
    ],
)
def test_data_type_follows_the_uri(uri: str | None, expected: str) -> None:
    assert detect_data_type(uri) == expected


@pytest.mark.parametrize("data_type", ["image", "text"])
def test_config_round_trips(data_type: str) -> None:
    classes = ["cat", "dog", 'a "quoted" <b>&', "0"]
    config = build(classes, data_type)  # type: ignore[arg-type]
    assert read(config) == (data_type, classes)
    assert 'required="true"' in config and 'choice="single-radio"' in config


def test_hotkeys_for_the_first_ten_classes_only() -> None:
    config = build([str(n) for n in range(12)], "image")
    assert config.count("hotkey=") == 10


def test_fewer_than_two_classes_is_refused() -> None:
    with pytest.raises(ProjectConflict, match="two classes"):
        build(["only"], "image")


def test_a_foreign_config_reads_as_unknown() -> None:
    assert read("<View><Text name='x' value='$x'/></View>") == (None, [])
    assert read("not xml <") == (None, [])
