"""bambaprof's kernel metadata: exact bytes in traces, and no recompilation when a profiler starts."""

import torch

from bambaprof.collect.compile import CompileCounters, reset_compiler
from bambaprof.ssm.kernels.metadata import kernel_metadata


def _body(x):
    with kernel_metadata("double", 2 * x.numel() * x.element_size(), x.numel(), (x,)):
        y = x * 2
    return y + 1


def test_starting_the_profiler_does_not_recompile_compiled_callers():
    reset_compiler()
    fn = torch.compile(_body, backend="eager")
    x = torch.randn(16)
    fn(x)
    before = CompileCounters.read()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
        fn(x)
    assert CompileCounters.read().since(before).frames == 0
    reset_compiler()


def test_eager_launches_carry_the_metadata(tmp_path):
    import json

    x = torch.randn(16)
    # the profiler exports a range's args with record_shapes only (profile and record always set it)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        _body(x)
    path = tmp_path / "t.json"
    prof.export_chrome_trace(str(path))
    ev = next(e for e in json.loads(path.read_text())["traceEvents"] if e.get("name") == "bambaprof::double")
    assert ev["args"]["kernel_num_gb"] == 16 * 4 * 2 / 1e9
