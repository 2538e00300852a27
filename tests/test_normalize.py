"""Frozen standardisation."""

import numpy as np
import pytest

from mt5bridge.normalize import Standardizer


def test_fit_ignores_warm_up_rows_and_guards_constant_features():
    features = np.array([[np.nan, 1.0, 5.0], [1.0, 2.0, 5.0], [3.0, 3.0, 5.0], [5.0, 4.0, 5.0]])
    s = Standardizer.fit(features)
    np.testing.assert_allclose(s.mean, [3.0, 3.0, 5.0])
    np.testing.assert_allclose(s.std, [np.sqrt(8 / 3), np.sqrt(2 / 3), 1.0])  # constant feature keeps unit scale
    z = s.transform(features[1:])
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.inverse(z), features[1:])


def test_fit_needs_data():
    with pytest.raises(ValueError, match="at least 2 complete rows"):
        Standardizer.fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        Standardizer.fit(np.zeros(5))
