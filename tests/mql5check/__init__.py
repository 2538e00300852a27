"""Checks of the MQL5 sources that need no terminal: the syntax gate and its MQL rules (gate.py, builtins.txt),
the self-test script's expected values (selftest.py) and a g++ type check through a small header (gxx.py)."""
