"""Long kernels of known traffic for Nsight Systems' GPU metrics (`nsys profile --gpu-metrics-devices=0`): a
device-to-device copy of 4 GiB (8 GiB of DRAM traffic, memory-bound), an elementwise kernel over 1 GiB (2 GiB
of traffic) and bf16 GEMMs of 8192^3 (compute-bound), five of each inside `cudaProfilerStart/Stop`, so that
the sampled DRAM throughput can be checked against bytes over kernel time. `benchmarks/h200_nsys_job.sh` runs
it on the GPU machine.
"""

import torch


def main() -> None:
    src = torch.empty(4 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    x = torch.randn(1 << 28, device="cuda")  # 1 GiB of float32
    y = torch.empty_like(x)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(2):  # warm up
        dst.copy_(src)
        torch.mul(x, 2.0, out=y)
        a @ b
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for _ in range(5):  # one at a time, so that each runs alone through the samples
        dst.copy_(src)
        torch.cuda.synchronize()
        torch.mul(x, 2.0, out=y)  # an elementwise kernel: 1 GiB read, 1 GiB written
        torch.cuda.synchronize()
        a @ b
        torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
