"""The demo's digits as PNG files a browser can show (for ``alstream demo --ui``).

scikit-learn's digits are 8x8 grey levels 0-16; each becomes a 128x128 PNG (nearest-neighbour, dark
ink on white) so a person can read it. The stream's items point at these files with ``file://`` uris,
and the Label Studio bridge embeds them in the tasks (``[label_studio] local_files_root``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 128


def digit_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of one digit given as 64 intensities in [0, 1] (or an 8x8 array)."""
    grid = np.asarray(pixels, dtype=np.float64).reshape(8, 8)
    grey = (255 - np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)
    image = Image.fromarray(grey).resize((SIZE, SIZE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def write_digit_images(directory: Path, ids: Iterable[str], features: np.ndarray) -> dict[str, Path]:
    """One PNG per item under ``directory``; item_id -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item_id, row in zip(ids, features, strict=True):
        path = directory / f"{item_id}.png"
        path.write_bytes(digit_png(row))
        paths[item_id] = path
    return paths
