"""Model artifacts: scikit-learn estimators saved with skops (never bare pickle) plus what the scorer needs.

An artifact holds one or more fitted estimators (two or more form the committee used by the
disagreement signal), the class order of their probabilities and the feature dimension.

Loading is the model store's trust boundary (docs/security.md): a SHA-256 is required and must match;
skops is asked which types the file holds before anything is built, and the file is refused unless
every type it does not trust by default is one the committee allow-list's estimators are made of
(:func:`alstream.models.estimators.skops_type_names`: their internals, never a ``builtins`` callable,
``os.system`` or an unknown module); what loads must then be a bundle of allow-listed estimators.
Where an artifact may come from (the configured store, no other scheme) is :mod:`alstream.models.store`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from alstream.exceptions import AlstreamError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactError(AlstreamError):
    """An artifact is missing, altered (hash mismatch) or holds types we do not trust."""


class MissingChecksum(ArtifactError):
    """No SHA-256 (or not a hex SHA-256) was given for an artifact: nothing is loaded unverified."""


class ChecksumMismatch(ArtifactError):
    """The artifact's bytes are not the ones announced."""


class UntrustedArtifact(ArtifactError):
    """The artifact holds a type outside the committee allow-list (code it could run when loaded)."""


class ArtifactOutsideStore(ArtifactError):
    """An artifact URI outside the configured model store, or of a scheme the store does not serve."""


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


def trusted_types() -> frozenset[str]:
    """Every type an artifact may hold beyond skops' own defaults: exactly the allow-list's internals."""
    from alstream.models.estimators import skops_type_names  # imported late: it imports scikit-learn

    return skops_type_names()


def load_bundle(path: Path | str, *, expected_sha256: str | None) -> ModelBundle:
    """Load an artifact, refusing one without a matching SHA-256 or holding types outside the allow-list.

    The types are checked before skops builds anything, so a refused file never runs code."""
    source = Path(path)
    if not expected_sha256 or not _SHA256.match(expected_sha256):
        raise MissingChecksum(
            f"model artifact {source} has no SHA-256 to verify it against (got {str(expected_sha256)[:80]!r})"
        )
    if not source.is_file():
        raise ArtifactError(f"model artifact {source} does not exist")
    if sha256_of(source) != expected_sha256:
        raise ChecksumMismatch(f"model artifact {source} does not match its announced SHA-256")
    try:
        found = set(sio.get_untrusted_types(file=source))
    except Exception as exc:
        raise ArtifactError(f"model artifact {source} is not a readable skops file: {exc}") from exc
    refused = sorted(found - trusted_types())
    if refused:
        raise UntrustedArtifact(
            f"model artifact {source} holds types outside the committee allow-list: "
            f"{', '.join(refused)[:500]}"
        )
    try:
        payload = sio.load(source, trusted=sorted(found))
    except Exception as exc:
        raise ArtifactError(
            f"model artifact {source} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    return _bundle_of(payload, source)


def _bundle_of(payload: Any, source: Path) -> ModelBundle:
    """The loaded payload as a bundle, refusing anything that is not a bundle of allow-listed members."""
    from alstream.models.estimators import estimator_classes

    if not isinstance(payload, dict) or not isinstance(payload.get("estimators"), list):
        raise UntrustedArtifact(f"model artifact {source} is not a model bundle")
    allowed = estimator_classes()
    for member in payload["estimators"]:
        inner = (
            getattr(member, "estimator", None) if type(member).__name__ == "CalibratedClassifierCV" else None
        )
        if type(member) not in allowed or (inner is not None and type(inner) not in allowed):
            raise UntrustedArtifact(
                f"model artifact {source} holds a {type(member).__name__}, which is not on the committee "
                "allow-list (alstream/models/estimators.py)"
            )
    try:
        return ModelBundle(
            estimators=list(payload["estimators"]),
            classes=[str(c) for c in payload["classes"]],
            embedding_dim=int(payload["embedding_dim"]),
            metadata={str(k): str(v) for k, v in dict(payload.get("metadata", {})).items()},
            class_counts={str(k): int(v) for k, v in (payload.get("class_counts") or {}).items()},
            reference_embeddings=_optional_array(payload.get("reference_embeddings"), source),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"model artifact {source} is not a complete model bundle: {exc}") from exc


def _optional_array(value: Any, source: Path) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, np.ndarray):
        raise UntrustedArtifact(f"model artifact {source}: reference_embeddings is not an array")
    return value
