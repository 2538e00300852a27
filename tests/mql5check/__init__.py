"""Checks of the MQL5 sources that need no terminal: the syntax gate and its MQL rules (gate.py, builtins.txt),
the self-test script's expected values (selftest.py), a g++ type check (gxx.py), and the MQL5 code itself compiled
against a small C++ MQL5 runtime (mql5_runtime.h) and run by the tests through its drivers (native.py,
bridge_main.cpp, program_main.cpp)."""
