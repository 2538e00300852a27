"""The MQL5 sources type-checked by g++ after the line-preserving rewrite of tests/mql5check/gxx.py, and planted
type errors found at their own file and line."""

from __future__ import annotations

import re

import pytest

from mql5check import gate, gxx

pytestmark = pytest.mark.skipif(not gxx.available(), reason="g++ is not installed")
INCLUDE = "mql5/Include/Mt5Bridge/"


def test_every_mql5_file_type_checks():
    ok, log = gxx.compile_all()
    assert ok, log


@pytest.mark.parametrize("path", [str(p.relative_to(gate.ROOT)) for p in gate.sources()])
def test_rewrite_keeps_every_line(path):
    text = (gate.ROOT / path).read_text()
    assert len(gxx.rewrite(text).splitlines()) == len(text.splitlines())


def test_rewrite_of_arrays():
    source = ("void F(const uchar &b[], int n) { uchar g[64]; string t[]; double z[] = {1.0, 2.0}; }\n"
              "struct S { float latent[]; };\n")
    assert gxx.rewrite(source).splitlines() == [
        "void F(const MqlArray<uchar> &b, int n) { MqlArray<uchar> g = MqlArray<uchar>::Fixed(64); "
        "MqlArray<string> t; MqlArray<double> z = {1.0, 2.0}; }",
        "struct S { MqlArray<float> latent; };"]


PLANTED = {
    "argument_count": (INCLUDE + "Protocol.mqh", "int size = Mt5bReadU16(p, 88);", "int size = Mt5bReadU16(p);"),
    "argument_type": (INCLUDE + "Protocol.mqh", "h.kind = Mt5bReadU16(p, 6);", "h.kind = Mt5bReadU16(p, p);"),
    "member_typo": (INCLUDE + "Zmtp.mqh", "   m_in_len += count;", "   m_in_lenn += count;"),
    "field_typo": (INCLUDE + "Subscriber.mqh", "ulong told = beat.streams[k].last_stream_sequence;",
                   "ulong told = beat.streams[k].last_stream_seq;"),
    "builtin_arguments": (INCLUDE + "Zmtp.mqh", "SocketRead(m_socket, m_chunk, want, ZMTP_READ_WAIT_MS)",
                          "SocketRead(m_socket, m_chunk, want)"),
    "missing_return": (INCLUDE + "Subscriber.mqh", "   out.rebase = m_streams[i].rebase;\n   return true;",
                       "   out.rebase = m_streams[i].rebase;"),
    "undeclared_constant": ("mql5/Experts/Mt5BridgeMonitor.mq5", "return INIT_SUCCEEDED;", "return INIT_SUCEEDED;"),
    "string_to_int": ("mql5/Scripts/Mt5BridgeSelfTest.mq5", "e[i].bytes = bytes;", "e[i].bytes = name;"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_type_errors_are_found_at_their_line(name):
    path, old, new = PLANTED[name]
    text = (gate.ROOT / path).read_text()
    assert text.count(old) == 1, old
    line = text[:text.index(old)].count("\n") + 1
    program = path if path.endswith(".mq5") else "mql5/Experts/Mt5BridgeMonitor.mq5"  # includes every .mqh
    ok, log = gxx.compile_all({path: text.replace(old, new)}, only=[program])
    assert not ok
    where = [f"{path}:{line + k}:" for k in range(old.count("\n") + 3)]  # a missing return: at the '}'
    assert any(w in log for w in where), log


def test_the_documented_examples_compile():
    """docs/MQL5.md's example EAs (the daemon subscriber, the in-EA ONNX model) pass the gate and the type check, so
    the documentation cannot rot."""
    blocks = re.findall(r"```mql5\n(.*?)```", (gate.ROOT / "docs" / "MQL5.md").read_text(), re.S)
    assert len(blocks) == 2
    for k, block in enumerate(blocks):
        path = f"mql5/Experts/DocExample{k}.mq5"
        assert [p for p in gate.check({path: block}) if p.path == path] == []
        ok, log = gxx.compile_all({path: block}, only=[path])
        assert ok, log
