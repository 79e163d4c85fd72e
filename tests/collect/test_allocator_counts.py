"""What the caching allocator asked of the driver during the measured iterations: counted from
torch.cuda.memory_stats before and after (faked here; checked for real by tests/api/test_record.py on a GPU)."""

import torch

from bambaprof.collect import measure
from bambaprof.collect.measure import allocator_counts, peak_memory


def test_unknown_on_the_cpu():
    assert allocator_counts("cpu") == dict.fromkeys(measure.ALLOCATOR_COUNTERS)
    memory = peak_memory("cpu", allocator_counts("cpu"), allocator_counts("cpu"))
    assert (memory.device_allocs_measured, memory.device_frees_measured, memory.alloc_retries_measured) == (None,) * 3


def test_the_change_over_the_measured_iterations(monkeypatch):
    stats = iter([{"num_device_alloc": 10, "num_device_free": 2, "num_alloc_retries": 0},
                  {"num_device_alloc": 14, "num_device_free": 5, "num_alloc_retries": 1},
                  {"num_device_alloc": 3}])  # a torch that counts allocations only
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda: next(stats))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: 100)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda: 200)
    before, after = allocator_counts("cuda"), allocator_counts("cuda:0")
    memory = peak_memory("cuda", before, after)
    assert (memory.device_allocs_measured, memory.device_frees_measured, memory.alloc_retries_measured) == (4, 3, 1)
    assert (memory.peak_allocated_bytes, memory.peak_reserved_bytes) == (100, 200)
    partial = allocator_counts("cuda")
    assert partial == {"device_allocs_measured": 3, "device_frees_measured": None, "alloc_retries_measured": None}
    memory = peak_memory("cuda", before, partial)
    assert (memory.device_allocs_measured, memory.device_frees_measured) == (None, None)  # reset in between
