"""How sure is a search? The top score against whether the top product is right, on shopper
photos: the data the default "no confident match" threshold is chosen from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.config import Settings
from search.searcher import Searcher
from search.serving import Snapshot

BATCH = 32


@dataclass(frozen=True)
class TopScores:
    scores: np.ndarray  # (n,) the top result's score per photo
    right: np.ndarray  # (n,) bool: the top result is the photo's product


def embed_photos(snapshot: Snapshot, settings: Settings, photos: list[Path]) -> np.ndarray:
    """The photos' query vectors, in batches."""
    parts = [
        snapshot.embedder.embed_files(
            photos[start : start + BATCH], max_pixels=settings.embed.max_image_pixels
        )
        for start in range(0, len(photos), BATCH)
    ]
    return np.vstack(parts)


def top_scores(searcher: Searcher, vectors: np.ndarray, skus: list[str]) -> TopScores:
    """Search every photo; record the top score and whether the top product is right."""
    scores, right = [], []
    for vector, sku in zip(vectors, skus, strict=True):
        hits = searcher.search(vector, k=1)
        scores.append(hits[0].score if hits else -1.0)
        right.append(bool(hits) and hits[0].sku == sku)
    return TopScores(np.asarray(scores, dtype=np.float32), np.asarray(right))


def no_match_figures(top: TopScores, threshold: float) -> dict[str, float]:
    """no_match_rate: share of answers below the threshold; no_match_precision: share of those
    whose top product was indeed wrong; confident_precision: share right above it."""
    below = top.scores < threshold
    flagged = int(below.sum())
    confident = len(below) - flagged
    return {
        "no_match_threshold": threshold,
        "no_match_rate": flagged / max(len(below), 1),
        "no_match_precision": float((~top.right[below]).sum()) / flagged if flagged else 1.0,
        "confident_precision": float(top.right[~below].sum()) / confident if confident else 0.0,
    }


def choose_threshold(top: TopScores, precision: float = 0.85) -> float:
    """The highest score below which at least `precision` of the top answers are wrong: the
    score under which the top result is "usually wrong"."""
    best = float(np.min(top.scores))
    for threshold in np.round(np.arange(0.05, 0.95, 0.01), 2):
        below = top.scores < threshold
        if below.sum() >= 10 and (~top.right[below]).mean() >= precision:
            best = float(threshold)
    return best
