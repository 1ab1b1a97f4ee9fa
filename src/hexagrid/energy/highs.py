"""One way to make a HiGHS solver: silent, and never on standard output.

HiGHS 1.16 prints its banner when the first solver of a process is built, before any option can be
set, on the C library's standard output: a ``--json`` command would then print two lines that are not
JSON. The first construction therefore runs with file descriptor 1 pointed at the null device.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import highspy

__all__ = ["new_highs"]

_lock = threading.Lock()
_banner_shown = False


def _flush_c_stdout() -> None:
    with contextlib.suppress(OSError, AttributeError):  # no C library handle here: nothing to flush
        ctypes.CDLL(None).fflush(None)


def new_highs(**options: float | int | bool | str) -> highspy.Highs:
    """A ``highspy.Highs`` with logging off and ``options`` set (names as HiGHS spells them).

    HiGHS keeps one thread pool per process, sized by the first solve: a later solver asking for another
    ``threads`` count would fail its run ("scheduler already initialized"), so asking for one resets it.
    """
    global _banner_shown
    with _lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 1)
                h = highspy.Highs()
                _flush_c_stdout()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    if "threads" in options:
        with _lock:
            highspy.Highs.resetGlobalScheduler(True)
    for name, value in options.items():
        h.setOptionValue(name, value)
    return h
