import sys

import pytest
import torch

from irlas_darts.ops.heap import release_freed_memory


def test_cuda_memory_is_left_to_its_own_allocator():
    assert release_freed_memory(torch.device("cuda")) is False
    assert release_freed_memory("meta") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_on_linux_the_c_heap_is_trimmed_and_tensors_stay_intact():
    kept = torch.arange(1000.0)
    garbage = [torch.randn(1 << 16) for _ in range(64)]
    del garbage
    assert release_freed_memory("cpu") is True
    assert torch.equal(kept, torch.arange(1000.0))
