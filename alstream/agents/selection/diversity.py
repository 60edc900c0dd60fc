"""Batch diversity: pick N candidates spread over the embedding space from a window's top candidates.

A window's N highest scores are often near-duplicates (the same confusing region, the same burst of
similar items); labeling five of them teaches little more than labeling one. With diversity on,
the scorer keeps the top ``pool`` x N items of a window by score and, when the window closes, picks
N of them with k-means++ seeding: the highest-scoring item first, then each next item drawn with
probability proportional to its squared distance to the nearest item already picked. Close
neighbours of a picked item are almost never drawn; distinct high-scoring regions all are.

It runs once per window over at most ``pool`` x N rows (never per item), and its random draws are
seeded from the candidates' ids, so the same window content gives the same picks (a replay after a
crash picks the same items).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

import numpy as np

DiversityMethod = Literal["none", "kmeans++"]


def _seed_from(ids: Sequence[str]) -> int:
    digest = hashlib.blake2b(digest_size=8)
    for item_id in sorted(ids):
        digest.update(item_id.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return int.from_bytes(digest.digest(), "little")


def kmeans_pp_pick(
    scores: np.ndarray, embeddings: np.ndarray, count: int, *, ids: Sequence[str]
) -> np.ndarray:
    """Indices of ``count`` rows: the best score first, then k-means++ draws (D^2 sampling).

    The draws run over the candidates sorted by id, with a seed made of the ids, so the picks depend
    on which candidates the window holds, not on the order they arrived in. Rows that duplicate a
    picked row exactly (distance 0) are drawn only once every distinct row has been picked. Returns
    the picks in the order drawn.
    """
    n = len(scores)
    values = np.asarray(scores, dtype=np.float64)
    if count >= n:
        return np.lexsort((np.arange(n), -values))
    canonical = np.asarray(sorted(range(n), key=lambda i: ids[i]))
    points = np.asarray(embeddings, dtype=np.float64)[canonical]
    values = values[canonical]
    rng = np.random.default_rng(_seed_from(ids))
    first = int(np.lexsort((np.arange(n), -values))[0])
    picked = [first]
    nearest = np.sum((points - points[first]) ** 2, axis=1)
    nearest[first] = 0.0
    for _ in range(count - 1):
        total = nearest.sum()
        if total <= 0:  # only exact duplicates of picked rows are left: take the best of those
            remaining = np.setdiff1d(np.arange(n), picked)
            nxt = int(remaining[np.lexsort((remaining, -values[remaining]))[0]])
        else:
            nxt = int(rng.choice(n, p=nearest / total))
        picked.append(nxt)
        nearest = np.minimum(nearest, np.sum((points - points[nxt]) ** 2, axis=1))
        nearest[picked] = 0.0
    return canonical[np.asarray(picked)]


def pick_diverse(
    scores: np.ndarray,
    embeddings: np.ndarray,
    count: int,
    *,
    ids: Sequence[str],
    method: DiversityMethod,
) -> np.ndarray:
    """``count`` indices among the given candidates: the top scores, or spread out (``kmeans++``)."""
    if method == "none" or count >= len(scores):
        order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
        return order[:count]
    return kmeans_pp_pick(scores, embeddings, count, ids=ids)
