"""Long kernels of known traffic for Nsight Systems' GPU metrics (`nsys profile --gpu-metrics-devices=0`): a
device-to-device copy of 4 GiB (8 GiB of DRAM traffic, memory-bound) and bf16 GEMMs of 8192^3 (compute-bound),
five of each inside `cudaProfilerStart/Stop`, so that the sampled DRAM throughput can be checked against
bytes over kernel time. `benchmarks/h200_nsys_job.sh` runs it on the GPU machine.
"""

import torch


def main() -> None:
    src = torch.empty(4 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(2):  # warm up
        dst.copy_(src)
        a @ b
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for _ in range(5):
        dst.copy_(src)
        torch.cuda.synchronize()
        a @ b
        torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
