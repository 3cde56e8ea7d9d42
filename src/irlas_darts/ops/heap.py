"""Handing freed CPU memory back to the system between the passes of a memory-lean computation.

PyTorch's CPU allocator is the C library's ``malloc``. glibc keeps freed blocks in its heap for reuse, and a pass
that frees tensors of many sizes in another order than it allocated them leaves holes that the next pass's tensors
do not fit: the process's resident memory then grows with each pass although what is alive does not. Measured on
the recomputing exact product (``search.hvp=exact_recompute``, DARTS' CIFAR search network, batch 16): one cell's
graph alive at a time is 967 MB of peak growth with every large block mapped on its own (``MALLOC_MMAP_THRESHOLD_``)
but 3416 MB with glibc's defaults; with ``release_freed_memory()`` after each cell, 1786 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # glibc only; musl and others have no such call
    except (OSError, AttributeError):
        return None


def release_freed_memory(device: torch.device | str = "cpu") -> bool:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``); True if that was done.

    A no-op for CUDA tensors (their caching allocator is another matter) and where the C library has no such call.
    It costs a walk of the heap's free lists: call it between passes, not inside one.
    """
    if torch.device(device).type != "cpu":
        return False
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
