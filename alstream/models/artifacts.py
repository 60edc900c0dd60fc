"""Model artifacts: scikit-learn estimators saved with skops (never bare pickle) plus what the scorer needs.

An artifact holds one or more fitted estimators (two or more form the committee used by the
disagreement signal), the class order of their probabilities and the feature dimension. Loading
checks the SHA-256 announced on the models topic and trusts only the types skops reports as
untrusted if they are on our allow-list (scikit-learn and numpy types).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from alstream.exceptions import AlstreamError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class ArtifactError(AlstreamError):
    """An artifact is missing, altered (hash mismatch) or holds types we do not trust."""


@dataclass
class ModelBundle:
    """What one model version is: fitted estimators, class order and feature dimension."""

    estimators: list[Any]
    classes: list[str]
    embedding_dim: int
    metadata: dict[str, str] = field(default_factory=dict)
    #: training labels per class: the scorer's cold-start rule reads them
    class_counts: dict[str, int] = field(default_factory=dict)
    #: a fixed sample of unlabeled embeddings (from the validation set) that rank-fused policies rank
    #: against, so a fused score is a function of the item and the model version alone
    reference_embeddings: np.ndarray | None = None


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(bundle: ModelBundle, path: Path | str) -> str:
    """Write ``bundle`` with skops; returns the artifact's SHA-256."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "estimators": list(bundle.estimators),
        "classes": list(bundle.classes),
        "embedding_dim": int(bundle.embedding_dim),
        "metadata": dict(bundle.metadata),
        "class_counts": {str(k): int(v) for k, v in bundle.class_counts.items()},
        "reference_embeddings": bundle.reference_embeddings,
    }
    tmp = target.with_suffix(target.suffix + ".tmp")
    sio.dump(payload, tmp)
    tmp.replace(target)
    return sha256_of(target)


def load_bundle(path: Path | str, *, expected_sha256: str | None = None) -> ModelBundle:
    """Load an artifact, refusing a file whose hash differs or that holds untrusted types."""
    source = Path(path)
    if not source.is_file():
        raise ArtifactError(f"model artifact {source} does not exist")
    if expected_sha256 is not None and sha256_of(source) != expected_sha256:
        raise ArtifactError(f"model artifact {source} does not match its announced SHA-256")
    untrusted = sio.get_untrusted_types(file=source)
    refused = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ArtifactError(f"model artifact {source} holds untrusted types: {', '.join(refused)}")
    payload = sio.load(source, trusted=untrusted)
    return ModelBundle(
        estimators=list(payload["estimators"]),
        classes=[str(c) for c in payload["classes"]],
        embedding_dim=int(payload["embedding_dim"]),
        metadata=dict(payload.get("metadata", {})),
        class_counts={str(k): int(v) for k, v in (payload.get("class_counts") or {}).items()},
        reference_embeddings=payload.get("reference_embeddings"),
    )
