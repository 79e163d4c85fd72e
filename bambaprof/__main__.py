from .cli import entry_point

if __name__ == "__main__":  # guarded: child processes (the NVML sampler) import __main__ too
    entry_point()
