"""The model store: where model artifacts live, and the one way the trainer and the scorer load an
announced model from it.

An announcement on the models topic names an artifact by URI and SHA-256. Only the trainer writes the
models topic (the ACL matrix grants Write to the trainer role alone), and this module makes a forged or
careless announcement harmless besides: the URI must be a local path or ``file://`` URI that resolves
(symlinks included) inside the configured store, ``<paths.state_dir>/models``; any other scheme
(``s3://``, ``http://``) and any path outside it (``..``, an absolute path elsewhere) is refused
before a byte is read; the SHA-256 is required; and the file loads only if it holds the committee
allow-list's types (:func:`alstream.models.artifacts.load_bundle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from alstream.models.artifacts import ArtifactOutsideStore, ModelBundle, load_bundle

STORE_FOLDER = "models"


def store_root(state_dir: Path | str) -> Path:
    """The model store under a deployment's state directory (``paths.state_dir``)."""
    return Path(state_dir) / STORE_FOLDER


class ModelStore:
    """Artifacts under one local directory; the trainer writes there, the scorer only reads."""

    def __init__(self, *, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    @classmethod
    def of(cls, settings: Any) -> ModelStore:
        """The store of a deployment's settings (``paths.state_dir``)."""
        return cls(root=store_root(settings.paths.state_dir))

    def path_of(self, uri: str) -> Path:
        """The local file ``uri`` names, or :class:`ArtifactOutsideStore`."""
        text = str(uri)
        parsed = urlparse(text)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ArtifactOutsideStore(f"artifact URI {text[:200]!r} names another host")
            candidate = Path(unquote(parsed.path))
        elif parsed.scheme == "":
            candidate = Path(text)
        else:
            raise ArtifactOutsideStore(
                f"artifact URI {text[:200]!r}: scheme {parsed.scheme!r} is not served by the model store "
                f"({self.root})"
            )
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.root):
            raise ArtifactOutsideStore(f"artifact {text[:200]!r} is outside the model store {self.root}")
        return resolved

    def load(self, uri: str, sha256: str | None) -> ModelBundle:
        """Load the artifact an announcement names (store location, SHA-256 and types all checked)."""
        return load_bundle(self.path_of(uri), expected_sha256=sha256)

    def load_announced(self, record: dict[str, Any]) -> ModelBundle:
        return self.load(str(record.get("artifact_uri") or ""), record.get("artifact_sha256"))
