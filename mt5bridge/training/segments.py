"""Validation and the training-error distribution as segments stepped side by side, not one stream per file.

One stream walking EURUSD's 13,600 validation bars is 13,600 dependent steps, and on a GPU each layer's step is a
kernel launch whatever the number of streams: at the H100's 18,000 bars/s for one stream (BENCHMARKS.md, encode)
that walk took about as long as a training epoch, every epoch. Cut into segments of at most `segment_bars` bars
that run as S streams of one engine, the same bars take about segment_bars + burn_in steps. (On PoCL, whose
launches cost 30-60 µs, the walk is compute-bound as much as launch-bound and gains less.)

Each segment starts from an empty memory. A file's first segment starts like the single walk did (its own
burn-in before the first scored bar); every later one is warmed on the max(burn_in, D-1) bars before it (stepped,
not scored), so the cut hardly shows and every bar of the range is scored once. With segment_bars = 0 a file is
one segment: the single walk of passes.stateful_pass, bar for bar (tested).

The engine sees what ModelRunner would give it: standardised bars, windows newest first, zeros before a segment's
first bar (an empty past), so a stream's numbers are those of a ModelRunner walk from the same first bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..config import ModelConfig
from ..engine.base import Engine

CHUNK_ROWS = 16384  # steps x streams per forward call: bounds the workspace and the host arrays of one chunk


@dataclass(frozen=True)
class Segment:
    series: int  # which file
    first: int  # first bar stepped; the memory starts empty here
    start: int  # first bar scored
    stop: int  # one past the last bar scored


def cut_segments(ranges: list[tuple[int, int]], *, first_burn_in: int, burn_in: int, target_bars: int,
                 segment_bars: int) -> list[Segment]:
    """Bar ranges [a, b) per file -> segments of at most segment_bars scored bars (0: one per file), equal in length
    within a file. The first of a file warms on first_burn_in bars, later ones on max(burn_in, D-1)."""
    warm = max(burn_in, target_bars - 1)  # enough for the first scored bar's D-bar target to lie inside the pass
    out = []
    for series, (a, b) in enumerate(ranges):
        if b <= a:
            continue
        count = 1 if segment_bars == 0 else -(-(b - a) // segment_bars)
        bounds = [a + (b - a) * k // count for k in range(count + 1)]
        for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            first = max(start - (first_burn_in if k == 0 else warm), 0)
            out.append(Segment(series, first, start, stop))
    return out


@dataclass
class Chunk:
    targets: np.ndarray  # (T, S, O) standardised D-bar targets in the engine's dtype; the first W*F columns are
    #                      the inputs
    scored: np.ndarray  # (T, S) bool: a bar of [start, stop) whose target lies wholly inside the pass


class SegmentedPass:
    """The segments as S streams in lockstep, each from its own first bar; a shorter one idles, unscored, at its
    end (streams never mix, so what it is fed there does not matter)."""

    def __init__(self, z: list[np.ndarray], segments: list[Segment], cfg: ModelConfig, dtype):
        if not segments:
            raise ValueError("a segmented pass needs at least one segment")
        self.z, self.segments, self.cfg, self.dtype = z, segments, cfg, np.dtype(dtype)
        self.streams = len(segments)
        self.steps = max(s.stop - s.first for s in segments)  # T of the whole pass
        self.chunk_steps = max(1, CHUNK_ROWS // self.streams)

    def _windows(self, seg: Segment) -> np.ndarray:
        """(n, D, F) view, no copy: step t's last D bars, newest first, zeros before the segment's first bar (what
        series.lag_windows gives from z[first:], without its gather)."""
        d = self.cfg.target_bars
        bars = self.z[seg.series][seg.first: seg.stop].astype(self.dtype)  # (n, F)
        padded = np.concatenate([np.zeros((d - 1, bars.shape[1]), self.dtype), bars])  # (D-1+n, F)
        return sliding_window_view(padded, d, axis=0)[:, :, ::-1].transpose(0, 2, 1)

    def chunks(self) -> Iterator[Chunk]:
        d, f = self.cfg.target_bars, self.cfg.features
        windows = [self._windows(seg) for seg in self.segments]
        for t0 in range(0, self.steps, self.chunk_steps):
            t1 = min(t0 + self.chunk_steps, self.steps)
            targets = np.zeros((t1 - t0, self.streams, self.cfg.outputs), self.dtype)  # (T, S, O)
            scored = np.zeros((t1 - t0, self.streams), bool)  # (T, S)
            for k, (seg, window) in enumerate(zip(self.segments, windows)):
                t = np.arange(t0, min(t1, seg.stop - seg.first))  # steps since the segment's first bar
                if len(t):
                    targets[: len(t), k].reshape(len(t), d, f)[:] = window[t0: t0 + len(t)]
                    scored[: len(t), k] = (seg.first + t >= seg.start) & (t >= d - 1)
            yield Chunk(targets, scored)

    def run(self, engine: Engine, chunks=None) -> Iterator[tuple[Chunk, np.ndarray]]:
        """Step an inference engine (weights already set) through the pass from an empty memory; yields each chunk
        with its squared errors summed per bar, (T, S) float64."""
        engine.set_state(engine.zero_state(self.streams))
        for chunk in chunks if chunks is not None else self.chunks():
            _, reconstruction = engine.forward(chunk.targets[:, :, : self.cfg.inputs])  # (T, S, O), ours to reuse
            diff = np.subtract(reconstruction, chunk.targets, out=reconstruction, dtype=self.dtype)
            # Summed in the engine's dtype: einsum's vector loop is 6x numpy's float64 sum here, and a bar's 480
            # squares in float32 are good to ~1e-7 of their sum, far inside any min_delta.
            yield chunk, np.einsum("tso,tso->ts", diff, diff).astype(np.float64)


class Validation:
    """The validation bars of every file, chunks built once (the same bars every epoch), the targets' spread
    around each file's mean computed once; each epoch only steps the engine and sums squared errors."""

    def __init__(self, z: list[np.ndarray], ranges: list[tuple[int, int]], cfg: ModelConfig, dtype, *,
                 burn_in: int, segment_bars: int):
        segments = cut_segments(ranges, first_burn_in=burn_in, burn_in=burn_in, target_bars=cfg.target_bars,
                                segment_bars=segment_bars)
        self.cfg = cfg
        self.segmented = SegmentedPass(z, segments, cfg, dtype) if segments else None
        self.cached = list(self.segmented.chunks()) if self.segmented else []
        self.bars = int(sum(c.scored.sum() for c in self.cached))
        self.variance = self._variance(np.array([s.series for s in segments], np.int64), len(ranges)) \
            if segments else 0.0

    @property
    def streams(self) -> int:
        return self.segmented.streams if self.segmented else 0

    def _variance(self, file_of: np.ndarray, files: int) -> float:
        """Sum over files of the targets' squared deviations from that file's own mean, over the scored bars."""
        total = 0.0
        for f in range(files):
            rows = [c.targets[c.scored & (file_of == f)[None, :]] for c in self.cached]  # each (n, O)
            rows = np.concatenate(rows)
            if len(rows):
                total += float(np.sum((rows - rows.mean(axis=0, dtype=np.float64)) ** 2))
        return total

    def __call__(self, engine: Engine) -> dict[str, float]:
        if not self.bars:
            return {}
        squared = sum(float(errors[chunk.scored].sum()) for chunk, errors in self.segmented.run(engine, self.cached))
        return {"val_mse": squared / (self.bars * self.cfg.outputs), "val_nmse": squared / self.variance,
                "val_bars": self.bars}


def bar_errors(z: list[np.ndarray], ranges: list[tuple[int, int]], cfg: ModelConfig, engine: Engine, *,
               burn_in: int, segment_bars: int) -> np.ndarray:
    """Per-bar mean squared reconstruction error (n,) over ranges [a, b) of each file, each walked from an empty
    memory at a (the distribution behind anomaly percentiles); chunks built as they go (a one-off pass)."""
    segments = cut_segments(ranges, first_burn_in=0, burn_in=burn_in, target_bars=cfg.target_bars,
                            segment_bars=segment_bars)
    if not segments:
        return np.zeros(0)
    passes = SegmentedPass(z, segments, cfg, engine.dtype).run(engine)
    errors = [sums[chunk.scored] / cfg.outputs for chunk, sums in passes]
    return np.concatenate(errors)
