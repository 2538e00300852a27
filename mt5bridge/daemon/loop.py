"""The daemon loop: poll every stream's source for newly closed bars, step the models, publish, persist.

A small state machine in the spirit of freqtrade's worker: `run()` = `start()` (restore or warm up) then `cycle()`
until stopped. Clock and sleep are injected, so tests run hours of bars in milliseconds. Ordering per batch of bars:
compute -> persist -> send (docs/PROTOCOL.md, "Exactly once"). Nothing leaves before the state file holds it, so a
message's identity and bytes are a function of the persisted state: a crash before the write sent nothing (the
restart recomputes those bars, numbering them afresh), a crash after it leaves messages in the file's recent history,
which subscribers that notice the gap get re-sent, byte for byte. `fault` (tests) is called at each of those points.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, TemporaryError
from ..training.provenance import check_timeframe
from ..drift import drift_alarm
from ..wire import (FLAG_CATCHUP, FLAG_REPLAY, HEARTBEAT_TOPIC, STATUS_CATCHING_UP, STATUS_CONNECTED,
                    STATUS_DRIFT, STATUS_ERROR, STATUS_WARM, TOPIC_PREFIX, HeartbeatMessage, LatentMessage,
                    StreamStatus, encode, latent_flags)
from ..zmq_io import CurveServerKeys, Publisher
from .config import RunConfig
from .metrics import Metrics
from .state import DaemonState, StreamRecord, load_state, save_state
from .streams import ModelGroup, Stream

log = logging.getLogger("mt5bridge.daemon")
STATE_FILE = "state.npz"


class Daemon:
    def __init__(self, config: RunConfig, *, sources: dict[str, object] | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] | None = None,
                 metrics: Metrics | None = None, on_publish: Callable[[LatentMessage], None] | None = None,
                 on_bound: Callable[["Daemon"], None] | None = None, fault: Callable[[str], None] | None = None):
        self.config = config
        self.clock, self._sleep = clock, sleep
        self.metrics = metrics or Metrics(None)
        self.on_publish = on_publish
        self.on_bound = on_bound  # called once the socket is bound, before the warm-up (the demo's subscriber)
        self.stopped = False
        self.published = 0
        self.sequence = 0
        self.fault = fault or (lambda point: None)  # "computed", "persisted", "sent": where a crash test kills us
        # computed, not yet sent: (stream, message, payload, perf_counter when its bars were in hand)
        self._outgoing: list[tuple[Stream, LatentMessage, bytes, float]] = []
        state_dir = config.path(config.daemon.state_dir)
        if state_dir.exists() and not state_dir.is_dir():
            raise ConfigError(f"daemon.state_dir {state_dir} is a file, not a folder")
        self.state_path = state_dir / STATE_FILE
        self.groups: dict[Path, ModelGroup] = {}
        self.streams: list[Stream] = []
        for sc in config.streams:
            path = config.path(sc.model).resolve()
            group = self.groups.get(path) or self.groups.setdefault(path, ModelGroup(path, config.daemon.device))
            self.streams.append(group.add(sc))
        for i, stream in enumerate(self.streams):
            sc = stream.config
            note = check_timeframe(stream.group.model, stream.tf.name, what=f"stream {stream.key} (streams[{i}])",
                                   allow=sc.allow_timeframe_mismatch,
                                   option="allow_timeframe_mismatch = true in its [[streams]] table")
            if note:
                log.warning("event=timeframe_unchecked stream=%s model=%s reason=%r", stream.key, stream.group.path,
                            note)
        for group in self.groups.values():
            group.build()
        self._sources = sources or {}
        pc = config.publisher
        curve = CurveServerKeys(config.path(pc.curve_secret_file), config.path(pc.curve_clients_dir)) \
            if pc.curve_secret_file else None
        self.publisher = Publisher(pc.endpoint, sndhwm=pc.sndhwm, zmq_heartbeat_ms=pc.zmq_heartbeat_ms,
                                   history=pc.history, curve=curve, insecure_bind=pc.insecure_bind)
        # The saved state's recent messages go into the publisher's cache before anything else: a subscriber that
        # (re)connects gets each stream's newest one at once, also one that was written but never sent.
        self._saved = load_state(self.state_path)
        for stream in self.streams:
            record = self._saved.streams.get(stream.key) if self._saved else None
            if record is not None:
                self.publisher.restore_cache((stream.topic, seq, payload) for seq, payload in record.recent)
        self.publisher.on_drop = self.metrics.dropped
        self.publisher.on_missed = lambda topic, count, first, last: self.metrics.missed(
            topic.removeprefix(f"{TOPIC_PREFIX}latent/"), count)
        self.publisher.fresh_heartbeat = lambda: (HEARTBEAT_TOPIC, encode(self._heartbeat_message()))
        self.next_heartbeat = 0.0

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        """start(), then cycles until stop() or daemon.max_bars published (the state is persisted after every batch
        of bars, so stopping needs no extra write); always closes the sockets and sources."""
        try:
            if self.on_bound:
                self.on_bound(self)
            self.start()
            while not self.stopped:
                self.cycle()
        finally:
            self.close()

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        for stream in self.streams:
            if stream.source is not None:
                try:
                    stream.source.close()
                except Exception:  # closing must not hide the reason we are closing
                    log.exception("event=source_close_failed stream=%s", stream.key)
        self.publisher.close()

    def _open_source(self, stream: Stream):
        if stream.key in self._sources:
            return self._sources[stream.key]
        from ..data.mt5 import Mt5Settings
        from ..data.sources import open_source, parse_replay_spec

        sc = self.config.source
        settings = Mt5Settings(path=sc.path or None, login=sc.login or None, server=sc.server or None,
                               password=os.environ.get(sc.password_env) or None, portable=sc.portable,
                               timeout_ms=sc.timeout_ms)
        spec = sc.spec
        # A relative file path is relative to the config file's folder (docs/DAEMON.md), like every other path in
        # it, not to wherever the daemon was started (a scheduled task or a service often starts in System32).
        if spec.startswith("replay:"):
            path = parse_replay_spec(spec)[0]  # exactly as written, a prefix of what follows "replay:"
            spec = f"replay:{self.config.path(path)}{spec[len('replay:') + len(path):]}"
        elif spec and spec != "mt5" and "://" not in spec:  # a bar file; mt5, mt5rpyc://, unknown schemes as written
            spec = str(self.config.path(spec))
        return open_source(spec, stream.config.symbol, stream.tf, settings=settings, policy="drop")

    def start(self) -> None:
        saved = self._saved
        if saved is not None:
            self.sequence = saved.sequence
        cold = []
        for stream in self.streams:
            stream.source = self._open_source(stream)
            record = saved.streams.get(stream.key) if saved else None
            if record is not None:
                stream.stream_sequence = record.stream_sequence  # keeps increasing even if we re-warm
                stream.recent = list(record.recent)
            if record is not None and record.model_sha256 == stream.group.sha256:
                self._restore(stream, record)
            else:
                if record is not None:
                    log.info("event=rewarm stream=%s reason=model_changed", stream.key)
                cold.append(stream)
        self._warm_up(cold)
        self._commit()
        log.info("event=started streams=%d endpoint=%s sequence=%d", len(self.streams), self.publisher.endpoint,
                 self.sequence)

    def _restore(self, stream: Stream, record: StreamRecord) -> None:
        stream.features = stream.group.feature_set.restore(record.features)
        stream.bars_seen, stream.bars_fed = record.bars_seen, record.bars_fed
        stream.last_bar_time = record.last_bar_time
        stream.group.set_stream_state(stream.slot, record.runner)
        log.info("event=restored stream=%s last_bar_time=%s stream_sequence=%d", stream.key, record.last_bar_time,
                 stream.stream_sequence)

    def _warm_up(self, streams: list[Stream]) -> None:
        """Feed each stream its newest closed bars without publishing, except the newest one (so late joiners have
        a value at once). Streams of one model warm up together, a bar of each per device call."""
        batches = {}
        for stream in streams:
            stream.reset_features()
            stream.group.runner.reset([stream.slot])
            stream.last_bar_time = None
            want = stream.skip + self.config.daemon.warmup_bars
            bars = self._poll_safely(stream, lambda s=stream, n=want: s.source.last_closed_bars(n))
            if bars is not None and len(bars):
                batches[stream.key] = bars
        if batches:
            self._process_batches(batches, warm_up=True, polled_at=time.perf_counter())
        for stream in streams:
            if stream.key in batches:
                log.info("event=warmed stream=%s bars=%d fed=%d", stream.key, len(batches[stream.key]),
                         stream.bars_fed)

    # --- one cycle ----------------------------------------------------------------------------------------------
    def cycle(self) -> None:
        now = self.clock()
        due = [s for s in self.streams if s.next_poll <= now]
        batches: dict[str, np.ndarray] = {}
        cold = [s for s in due if s.last_bar_time is None]  # the first warm-up failed: try again
        if cold:
            self._warm_up(cold)
        for stream in due:
            if stream in cold:
                if not stream.error:
                    stream.next_poll = now + self.config.daemon.poll_interval_s
                continue
            bars = self._poll_safely(stream, lambda s=stream: s.source.closed_bars_after(s.last_bar_time))
            if bars is not None:
                batches[stream.key] = bars
                stream.catching_up = len(bars) > 1
                stream.next_poll = now + self.config.daemon.poll_interval_s
        if any(len(b) for b in batches.values()):
            self._process_batches(batches, polled_at=time.perf_counter())
            self._commit()
        if now >= self.next_heartbeat:
            self._heartbeat()
            self.next_heartbeat = now + self.config.publisher.heartbeat_interval_s
        max_bars = self.config.daemon.max_bars
        if max_bars and self._queued_total() >= max_bars:
            self.stop()
            return
        self._wait(max(0.0, min([s.next_poll for s in self.streams] + [self.next_heartbeat]) - self.clock()))

    def _wait(self, seconds: float) -> None:
        """Idle time answers subscriptions (late joiners, re-send requests) as they arrive."""
        if self._sleep is None:
            self.publisher.serve(seconds)
        else:
            self._sleep(seconds)
            self.publisher.serve(0.0)

    def _poll_safely(self, stream: Stream, request: Callable[[], np.ndarray]) -> np.ndarray | None:
        """The request's bars, or None after a temporary failure (then: back off, reconnect, retry)."""
        now = self.clock()
        try:
            if stream.error:
                stream.source.reconnect()
                self.metrics.reconnected(stream.key)
            bars = request()
        except TemporaryError as exc:
            stream.connected, stream.error = False, True
            stream.backoff = min(self.config.daemon.backoff_max_s,
                                 max(self.config.daemon.backoff_initial_s, stream.backoff * 2))
            delay = stream.backoff * random.uniform(0.5, 1.0)  # jitter: streams do not retry in lock step
            stream.next_poll = now + delay
            log.warning("event=source_error stream=%s retry_in_s=%.1f error=%r", stream.key, delay, str(exc))
            return None
        if stream.error:
            log.info("event=source_recovered stream=%s", stream.key)
        stream.connected, stream.error, stream.backoff = True, False, 0.0
        stream.last_poll_ms = int(self.clock() * 1000)
        return bars

    def _process_batches(self, batches: dict[str, np.ndarray], *, polled_at: float, warm_up: bool = False) -> None:
        """Round r steps one bar of every stream that has one, one device call per model; rounds are aligned on
        the newest bars. Every bar is published, but during a warm-up only each stream's newest. `polled_at`
        (perf_counter when the bars were in hand) starts the publish-latency clock."""
        rounds = max(len(b) for b in batches.values())
        max_bars = self.config.daemon.max_bars
        for r in range(rounds):
            if max_bars and not warm_up and self._queued_total() >= max_bars:
                break  # the rest stays unprocessed (and unpersisted): a restart takes it up
            for group in self.groups.values():
                ready = []
                for s in group.streams:
                    bars = batches.get(s.key)
                    i = -1 if bars is None else len(bars) - rounds + r
                    if i >= 0:
                        newest = i == len(bars) - 1
                        ready.append((s, bars[i], newest or not warm_up, 0 if newest else FLAG_CATCHUP))
                self._step_group(group, ready, polled_at)

    def _step_group(self, group: ModelGroup, ready: list, polled_at: float) -> None:
        rows, meta = {}, {}
        for stream, bar, publish, flags in ready:
            if not self._accept(stream, bar):
                continue
            row = stream.features.update(bar)
            stream.bars_seen += 1
            stream.last_bar_time = int(bar["time"])
            if stream.bars_seen <= stream.skip:  # still inside the feature warm-up: nothing to feed yet
                continue
            if not np.all(np.isfinite(row)):  # never feed the model NaN; never stop the daemon for one bar
                self.metrics.skipped(stream.key)
                log.error("event=bar_skipped stream=%s bar_time=%d reason='non-finite features %s'", stream.key,
                          int(bar["time"]), row.tolist())
                continue
            rows[stream.slot] = row
            meta[stream.slot] = (stream, bar, publish, flags)
        if not rows:
            return
        outputs = group.step(rows)
        for slot, out in outputs.items():
            stream, bar, publish, flags = meta[slot]
            stream.bars_fed += 1
            self._track_drift(stream, float(out.drift[0]))
            if publish:
                self._publish(stream, bar, out, flags, polled_at)

    def _accept(self, stream: Stream, bar) -> bool:
        """Live bars out of order or malformed are skipped and logged, never fatal."""
        t = int(bar["time"])
        o, h, lo, c = (float(bar[k]) for k in ("open", "high", "low", "close"))
        problem = None
        if stream.last_bar_time is not None and t <= stream.last_bar_time:
            problem = f"time {t} not after the last bar {stream.last_bar_time}"
        elif not all(np.isfinite(v) and v > 0 for v in (o, h, lo, c)) or h < max(o, c) or lo > min(o, c):
            problem = f"bad prices o={o} h={h} l={lo} c={c}"
        if problem:
            self.metrics.skipped(stream.key)
            log.warning("event=bar_skipped stream=%s bar_time=%d reason=%r", stream.key, t, problem)
            return False
        return True

    def _track_drift(self, stream: Stream, score: float) -> None:
        """One warning per stream when its inputs stop looking like the model's training data, one note when they
        look like it again (below half the threshold, so a score hovering at the threshold does not flap)."""
        threshold = self.config.daemon.drift_threshold
        stream.drift = score
        stream.drifting = bool(drift_alarm(score, stream.bars_fed, threshold))
        if stream.drifting and not stream.drift_warned:
            stream.drift_warned = True
            trained = stream.group.model.metadata.get("trained_on") or {}
            log.warning("event=input_drift stream=%s score=%.3f threshold=%.3f model=%s trained_on=%r "
                        "hint='%.0f%% of the last bars' inputs lie outside the training range: the latents and "
                        "errors of this stream are not comparable to training; check the symbol and timeframe or "
                        "train on this market'", stream.key, score, threshold, stream.group.path.name,
                        ",".join(trained.get("symbols") or [f["name"] for f in trained.get("files", [])]),
                        100 * score)
        elif stream.drift_warned and score < threshold / 2:
            stream.drift_warned = False
            log.info("event=input_drift_cleared stream=%s score=%.3f", stream.key, score)

    # --- publishing and persistence ---------------------------------------------------------------------------------
    def _publish(self, stream: Stream, bar, out, flags: int, polled_at: float) -> None:
        error, percentile = float(out.error[0]), float(out.percentile[0])
        flags |= int(latent_flags(error, stream.bars_fed, stream.drifting, self.config.daemon.warmup_bars))
        if getattr(stream.source, "name", "").startswith("replay:"):
            flags |= FLAG_REPLAY
        self.sequence += 1
        stream.stream_sequence += 1
        message = LatentMessage(self.sequence, int(self.clock() * 1000), stream.config.symbol, stream.tf.code, flags,
                                int(bar["time"]), stream.stream_sequence, error, percentile,
                                tuple(float(v) for v in out.latent[0]))
        payload = encode(message)
        stream.recent = (stream.recent + [(stream.stream_sequence, payload)])[-self.config.publisher.history:]
        self._outgoing.append((stream, message, payload, polled_at))  # sent by _commit once the state holds it

    def _queued_total(self) -> int:
        return self.published + len(self._outgoing)

    def _commit(self) -> None:
        """Persist, then send what was computed since the last commit: the exactly-once ordering."""
        self.fault("computed")
        for step in (self._write_state, self._send_outgoing):  # this order is the invariant (docs/PROTOCOL.md)
            step()

    def _write_state(self) -> None:
        self._persist()
        self.fault("persisted")

    def _send_outgoing(self) -> None:
        for stream, message, payload, polled_at in self._outgoing:
            self.publisher.publish(stream.topic, payload, message.stream_sequence)
            self.published += 1
            self.metrics.published(stream.key, time.perf_counter() - polled_at, message.recon_error, stream.drift)
            if self.on_publish:
                self.on_publish(message)
        self._outgoing = []
        self.fault("sent")

    def _heartbeat(self) -> None:
        self.publisher.publish(HEARTBEAT_TOPIC, encode(self._heartbeat_message()), cache=False)

    def _heartbeat_message(self) -> HeartbeatMessage:
        statuses = []
        for s in self.streams:
            status = (STATUS_CONNECTED if s.connected else 0) | (STATUS_ERROR if s.error else 0) | \
                (STATUS_WARM if s.warm(self.config.daemon.warmup_bars) else 0) | \
                (STATUS_CATCHING_UP if s.catching_up else 0) | (STATUS_DRIFT if s.drifting else 0)
            statuses.append(StreamStatus(s.config.symbol, s.tf.code, status, s.last_bar_time or 0,
                                         s.stream_sequence, s.last_poll_ms))
        return HeartbeatMessage(self.sequence, int(self.clock() * 1000),
                                int(self.config.publisher.heartbeat_interval_s * 1000), tuple(statuses))

    def _persist(self) -> None:
        state = DaemonState(sequence=self.sequence)
        runners = {id(g): g.runner.get_state() for g in self.groups.values()}  # one device read per model
        for s in self.streams:
            runner = {k: v[s.slot: s.slot + 1].copy() for k, v in runners[id(s.group)].items()}
            state.streams[s.key] = StreamRecord(s.group.sha256, s.last_bar_time, s.stream_sequence, s.bars_seen,
                                                s.bars_fed, s.features.to_dict(), runner, s.recent)
        save_state(self.state_path, state)
