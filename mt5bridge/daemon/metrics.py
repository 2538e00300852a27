"""Prometheus metrics of the daemon, served on 127.0.0.1:PORT/metrics when `metrics.port` is set (off by default).

Without a port every call is a cheap no-op, so the loop never checks whether metrics are on.
"""

from __future__ import annotations

import logging

log = logging.getLogger("mt5bridge.daemon")

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self, port: int | None, host: str = "127.0.0.1"):
        self.enabled = bool(port)
        if not self.enabled:
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

        self.registry = CollectorRegistry()
        self._bars = Counter("mt5bridge_bars_published", "Closed bars turned into a published latent", ["stream"],
                             registry=self.registry)
        self._skipped = Counter("mt5bridge_bars_skipped", "Malformed or out-of-order bars skipped", ["stream"],
                                registry=self.registry)
        self._latency = Histogram("mt5bridge_publish_latency_seconds", "Bar available (poll returned) to message "
                                  "sent", buckets=LATENCY_BUCKETS, registry=self.registry)
        self._drops = Counter("mt5bridge_messages_dropped", "High-water-mark events: sends that found a subscriber "
                              "full (libzmq reports each full subscriber once: a lower bound)", registry=self.registry)
        self._missed = Counter("mt5bridge_messages_missed", "Messages subscribers reported missing in re-send "
                               "requests (each stream_sequence once)", ["stream"], registry=self.registry)
        self._reconnects = Counter("mt5bridge_reconnects", "Source reconnects after errors", ["stream"],
                                   registry=self.registry)
        self._error = Gauge("mt5bridge_reconstruction_error", "Last reconstruction error", ["stream"],
                            registry=self.registry)
        self._drift = Gauge("mt5bridge_input_drift", "Share of the last 500 bars' inputs outside the model's training "
                            "range (0-1)", ["stream"], registry=self.registry)
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("event=metrics_serving address=http://%s:%d/metrics", host, port)

    def published(self, stream: str, latency_s: float, error: float, drift: float = float("nan")) -> None:
        if self.enabled:
            self._bars.labels(stream).inc()
            self._latency.observe(latency_s)
            if error == error:  # not NaN
                self._error.labels(stream).set(error)
            if drift == drift:
                self._drift.labels(stream).set(drift)

    def skipped(self, stream: str) -> None:
        if self.enabled:
            self._skipped.labels(stream).inc()

    def dropped(self) -> None:
        if self.enabled:
            self._drops.inc()

    def missed(self, stream: str, count: int) -> None:
        if self.enabled:
            self._missed.labels(stream).inc(count)

    def reconnected(self, stream: str) -> None:
        if self.enabled:
            self._reconnects.labels(stream).inc()

    def close(self) -> None:
        if self.enabled:
            self.server.shutdown()
