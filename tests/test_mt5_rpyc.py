"""mt5rpyc:// against what real servers do: results that are C struct sequences (they cannot be pickled), an rpyc 5
server (a recorded exchange), and an initialize() that takes as long as its own timeout."""

from __future__ import annotations

import pickle
import socket
import threading
import time

import pytest

from mt5bridge.data.mt5 import Mt5Settings, Mt5Source, rpyc_request_timeout_s
from mt5bridge.errors import ConfigError, TemporaryError
from mt5bridge.testing import ManualClock, Mt5Simulator, synthetic_bars
from mt5bridge.testing.rpyc_server import serving


def market(**kw) -> Mt5Simulator:
    bars = synthetic_bars(300)
    sim = Mt5Simulator(clock=ManualClock(bars["time"][250] + 60), **kw)
    sim.add_bars("EURUSD", "H1", bars)
    return sim


def test_struct_sequence_results_come_back_by_value_and_nothing_is_unpickled(monkeypatch):
    """The real terminal_info()/account_info()/... results cannot be pickled (see mt5sim._struct_sequence), so
    rpyc.classic.obtain() on them failed at connect with every real terminal; they come field by field now."""
    sim = market()

    def refuse(*args, **kwargs):
        raise AssertionError("the client unpickled a result")

    with serving(sim) as port, Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{port}", "EURUSD", "H1") as source:
        monkeypatch.setattr(pickle, "loads", refuse)  # rpyc.classic.obtain() unpickles through it
        assert len(source.last_closed_bars(5)) == 5  # connect reads terminal_info().maxbars
        mt5 = source._mt5
        for name, args in (("terminal_info", ()), ("account_info", ()), ("symbol_info", ("EURUSD",)),
                           ("symbol_info_tick", ("EURUSD",))):
            local, remote = getattr(mt5, name)(*args), getattr(sim, name)(*args)
            assert type(local).__name__ == type(remote).__name__ and type(local).__module__ != "builtins"
            assert local._asdict() == remote._asdict() and tuple(local) == tuple(remote)
            assert all(type(v) in (bool, int, float, str) for v in local)  # plain values, no netrefs
        assert mt5.terminal_info().maxbars == sim.maxbars


# What an rpyc 5 classic server sends an rpyc 6 client, recorded on 127.0.0.1 through a TCP proxy between
# rpyc 5.2.3 (the version mt5linux 0.1.x pins; 5.3.1 sends the same bytes) running
# ThreadedServer(SlaveService) and an rpyc 6.0.2 client calling rpyc.classic.connect():
#   client -> server  00000008 00 | 01 11 50 11 53 11 51 02 | 0a : frame header (length 8, not compressed); rpyc 6's
#                     message, type byte 1 (request) then brine((seq 0, (HANDLE_GETROOT=3, (LABEL_VALUE, ()))));
#                     the channel's flusher byte
#   the server fails to read it ("not enough values to unpack (expected 3, got 0)") and closes the connection,
#   sending its HANDLE_CLOSE request as rpyc 5 frames it:
#   server -> client  00000008 00 | 12 51 50 11 52 11 51 02 | 0a : brine((MSG_REQUEST=1, seq 0, (HANDLE_CLOSE=2,
#                     (LABEL_VALUE, ())))), whose first byte is brine's 3-tuple tag, 18; then it closes.
# The rpyc 6 client reads 18 as a message type: "ValueError: invalid message type: 18".
RPYC5_CLIENT_REQUEST = bytes.fromhex("000000080001115011531151020a")
RPYC5_SERVER_ANSWER = bytes.fromhex("000000080012515011521151020a")


class Rpyc5Server:
    """Replays the recorded rpyc 5 side of the exchange to each client, on 127.0.0.1."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                while len(data) < len(RPYC5_CLIENT_REQUEST):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                conn.sendall(RPYC5_SERVER_ANSWER)

    def close(self) -> None:
        self.sock.close()


def test_an_rpyc5_server_is_a_config_error_saying_what_to_install_where():
    server = Rpyc5Server()
    try:
        with pytest.raises(ConfigError) as info:
            Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{server.port}", "EURUSD", "H1").last_closed_bars(1)
    finally:
        server.close()
    message = str(info.value)
    assert f"mt5rpyc://127.0.0.1:{server.port}" in message and "invalid message type: 18" in message
    assert "same rpyc major version" in message and "rpyc 5" in message
    assert 'pip install "rpyc>=6,<7"' in message and "Windows Python beside the terminal" in message
    assert server.received[0] == RPYC5_CLIENT_REQUEST  # the exchange is the one recorded


def test_request_timeout_is_comfortably_longer_than_initialize_timeout():
    assert rpyc_request_timeout_s(Mt5Settings()) == 300 > Mt5Settings().timeout_ms / 1000
    assert rpyc_request_timeout_s(Mt5Settings(timeout_ms=400_000)) == 800


def test_initialize_that_takes_its_whole_timeout_gives_the_terminals_answer():
    """initialize() waits up to `timeout` for the terminal's pipe and then answers -10003. A client whose request
    timeout equals it gave up at the same moment ("result expired") and never saw that answer."""
    sim = market(pipe_wait=time.sleep)
    sim.schedule_disconnect(0, 2**40)  # the terminal is not answering
    settings = Mt5Settings(timeout_ms=1000)
    with serving(sim) as port, Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{port}", "EURUSD", "H1", settings) as source:
        with pytest.raises(TemporaryError, match=r"initialize failed: IPC initialize failed, Pipe server didn't "
                                                 r"answer in 1 sec \(-10003\)"):
            source.last_closed_bars(1)
        assert source._session.connector._conn._config["sync_request_timeout"] == 300
