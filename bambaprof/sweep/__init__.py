"""Sweeps: a matrix of configurations spread over workers, with an index of their states."""
