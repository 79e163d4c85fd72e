"""Benchmarks of SSD cores (``bambaprof bench ssd``)."""
