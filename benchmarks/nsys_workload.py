"""The workload behind the Nsight Systems fixtures (tests/data/nsys/): run it under `nsys profile` and under the
PyTorch profiler (`kineto OUT.json`), and compare what bambaprof reads from each.

Five steps of: a cuBLAS matmul, elementwise kernels, a device-to-host copy, a memset, a reduction on a second
stream, and a torch.compile'd function under CUDA graphs (`reduce-overhead`: Triton kernels launched by
cudaGraphLaunch); each step inside an NVTX range `step` (and a `record_function` range of that name for the
PyTorch profiler). `benchmarks/h200_nsys_fixtures.sh` runs it both ways on the GPU machine.
"""

import sys

import torch


def main() -> None:
    kineto = len(sys.argv) > 2 and sys.argv[1] == "kineto"
    x = torch.randn(1024, 1024, device="cuda")
    w = torch.randn(1024, 1024, device="cuda")
    side = torch.cuda.Stream()
    graphed = torch.compile(lambda a: torch.nn.functional.gelu(a) * 2 + 1, mode="reduce-overhead")

    def step() -> None:
        with torch.profiler.record_function("step"):
            torch.cuda.nvtx.range_push("step")
            y = torch.relu(x @ w) + 1
            torch.zeros(4096, device="cuda")
            y[:8].cpu()
            with torch.cuda.stream(side):
                (x * 2).sum()
            torch.cuda.current_stream().wait_stream(side)
            graphed(y)
            torch.cuda.nvtx.range_pop()

    for _ in range(4):  # compile, record the graph, warm up
        step()
    torch.cuda.synchronize()
    if kineto:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        prof.export_chrome_trace(sys.argv[2])
    else:  # under nsys; `emit_nvtx`: each operator an NVTX range, with its input sizes
        import contextlib

        ops = torch.autograd.profiler.emit_nvtx(record_shapes=True) if sys.argv[1:2] == ["emit_nvtx"] \
            else contextlib.nullcontext()
        torch.cuda.cudart().cudaProfilerStart()
        with ops:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
