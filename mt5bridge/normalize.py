"""Frozen standardisation of features: mean and standard deviation per feature, fitted once on training data.

Unlike the article's online batch normalisation, these statistics never move after training, so the model sees
the same scale at inference as in training and its targets do not drift (docs/MODEL.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A feature whose training values are (nearly) constant keeps unit scale instead of exploding to inf.
MIN_STD = 1e-8


@dataclass(frozen=True)
class Standardizer:
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,), every entry >= MIN_STD

    @classmethod
    def fit(cls, features: np.ndarray) -> "Standardizer":
        """Fit on features (N,F); rows holding a NaN (indicator warm-up) are ignored."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise ValueError(f"features must be (N, F), got shape {features.shape}")
        rows = features[np.isfinite(features).all(axis=1)]
        if len(rows) < 2:
            raise ValueError(f"need at least 2 complete rows to fit standardisation, got {len(rows)}")
        std = rows.std(axis=0)
        return cls(rows.mean(axis=0), np.where(std < MIN_STD, 1.0, std))

    @classmethod
    def identity(cls, features: int) -> "Standardizer":
        return cls(np.zeros(features), np.ones(features))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(..., F) -> (..., F) standardised, float64."""
        return (np.asarray(features, np.float64) - self.mean) / self.std

    def inverse(self, standardised: np.ndarray) -> np.ndarray:
        return np.asarray(standardised, np.float64) * self.std + self.mean
