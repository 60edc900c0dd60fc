"""The labeling config of a task's project: one single-choice question over the task's classes.

Generated, never hand-written, so the project always asks exactly the classes the router hands out.
The item is shown from the task's ``item`` field: an image, or a text fetched from its URL.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import Literal
from xml.sax.saxutils import quoteattr

from alstream.agents.label_studio.exceptions import ProjectConflict

DataType = Literal["image", "text"]
CONTROL_NAME = "label"  # the Choices control whose answer becomes the label's value
ITEM_FIELD = "item"  # the task data field holding what to show
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg", ".tif", ".tiff", ".avif")
_HOTKEYS = "1234567890"


def detect_data_type(uri: str | None) -> DataType:
    """image when the uri names an image (data:image/... or an image file extension), else text."""
    if not uri:
        return "text"
    lowered = uri.lower()
    if lowered.startswith("data:"):
        return "image" if lowered.startswith("data:image/") else "text"
    path = re.split(r"[?#]", lowered, maxsplit=1)[0]
    return "image" if path.endswith(IMAGE_EXTENSIONS) else "text"


def build(classes: Sequence[str], data_type: DataType) -> str:
    """The XML labeling config asking for one of ``classes`` about the item."""
    if len(classes) < 2:
        raise ProjectConflict("a labeling task needs at least two classes ([task] classes)")
    if data_type == "image":
        shown = f'<Image name="{ITEM_FIELD}" value="${ITEM_FIELD}" zoom="true"/>'
    else:
        shown = f'<Text name="{ITEM_FIELD}" value="${ITEM_FIELD}" valueType="url"/>'
    choices = "\n".join(
        f"    <Choice value={quoteattr(value)}"
        + (f' hotkey="{_HOTKEYS[i]}"' if i < len(_HOTKEYS) else "")
        + "/>"
        for i, value in enumerate(classes)
    )
    return (
        "<View>\n"
        f"  {shown}\n"
        f'  <Choices name="{CONTROL_NAME}" toName="{ITEM_FIELD}" choice="single-radio" showInline="true" '
        'required="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def read(label_config: str) -> tuple[DataType | None, list[str]]:
    """(data type, classes) of a config :func:`build` wrote; (None, []) for anything else."""
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError:
        return None, []
    data_type: DataType | None = None
    for tag, kind in (("Image", "image"), ("Text", "text")):
        if root.find(f".//{tag}[@name='{ITEM_FIELD}']") is not None:
            data_type = kind  # type: ignore[assignment]
    control = root.find(f".//Choices[@name='{CONTROL_NAME}']")
    classes = [] if control is None else [c.get("value", "") for c in control.findall("Choice")]
    return data_type, classes
