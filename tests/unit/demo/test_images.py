"""demo --ui: every streamed digit gets a PNG a browser can show, and its item points at it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from alstream.demo import dataset
from alstream.demo.images import SIZE, digit_png
from alstream.demo.streaming import WaveFeeder


def test_a_digit_is_a_readable_png() -> None:
    pixels = np.zeros(64)
    pixels[0] = 1.0  # full ink in the top-left cell
    image = Image.open(io.BytesIO(digit_png(pixels)))
    assert image.format == "PNG" and image.size == (SIZE, SIZE)
    assert image.getpixel((0, 0)) == 0 and image.getpixel((SIZE - 1, SIZE - 1)) == 255


def test_waves_point_items_at_their_images_only_when_asked(tmp_path: Path) -> None:
    data = dataset.prepare(tmp_path / "data")
    started: list[list[str]] = []
    with_images = WaveFeeder(
        data=data,
        waves=2,
        synthetic_items=3,
        seed=1,
        start_process=lambda _name, args: started.append(args),
        directory=tmp_path / "waves",
        image_dir=tmp_path / "images",
    )
    records = [json.loads(line) for path in with_images.files for line in path.read_text().splitlines()]
    assert len(records) == len(data.stream_ids) + 3
    for record in records:
        path = Path(record["uri"].removeprefix("file://"))
        assert path.parent == tmp_path / "images" and path.read_bytes().startswith(b"\x89PNG")
    plain = WaveFeeder(
        data=data,
        waves=1,
        synthetic_items=0,
        seed=1,
        start_process=lambda *_: None,
        directory=tmp_path / "w2",
    )
    assert all("uri" not in json.loads(line) for line in plain.files[0].read_text().splitlines())
