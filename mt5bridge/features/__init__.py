"""Per-bar features: 12 values per closed bar, by a batch path (whole arrays) and a streaming path (one bar at a time,
with a JSON-serialisable state) that give the same numbers. See docs/FEATURES.md for every formula."""

from .sets import DEFAULT_FEATURE_SET, F, FEATURE_NAMES, FEATURE_SETS, FeatureSet, compute_features, get_feature_set
from .streaming import FeatureStream

__all__ = [
    "DEFAULT_FEATURE_SET",
    "F",
    "FEATURE_NAMES",
    "FEATURE_SETS",
    "FeatureSet",
    "FeatureStream",
    "compute_features",
    "get_feature_set",
]
