"""A Python twin of the MQL5 include (mql5/Include/Mt5Bridge/), for tests only; never imported by the package.

Each module mirrors one .mqh, function by function and with the same names, so a reader can check the two line
against line; mql5.py emulates the MQL5 built-ins they call (arrays, strings, sockets over Python's `socket`),
mql5files.py those of the latent files (files, the chart's bar times, the tester's clock).

| twin | MQL5 |
|---|---|
| protocol.py | Protocol.mqh (payload decoder) |
| zmtp.py | Zmtp.mqh (ZMTP 3.x SUB peer over MQL5 sockets) |
| subscriber.py | Subscriber.mqh and SubscriberFiles.mqh (per-topic state, gaps, staleness; file mode) |
| latentfile.py | LatentFile.mqh (the latent file reader) |
| latentfeed.py | LatentFeed.mqh (the subscriber's file mode: closed bars -> records) |
| onnx_features.py | OnnxFeatures.mqh (the 12 features from the chart's indicators and the bar) |
| onnx_encoder.py | OnnxEncoder.mqh (the exported graph stepped per closed bar) |

market.py (the chart's rates, indicator handles) and onnx_runtime.py (OnnxCreate/OnnxRun on onnxruntime) emulate
the built-ins of the last two.
"""
