"""Bytes for kernels replayed from CUDA graphs (launch map) and for an op's split kernels."""

from __future__ import annotations

import copy
import json

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.kernels import instance_traffic
from bambaprof.analysis.launch_map import LaunchMap, graph_replayed
from bambaprof.analysis.trace import load_trace

from .synth import H200, _kernel, _op, _rt, write

MUL_DIMS = [[4096, 1024], [4096, 1024]]
MUL_BYTES = 3 * 4096 * 1024 * 4  # two fp32 inputs read, the fp32 product written


def _doc(events):
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "traceEvents": events}


def map_trace() -> dict:
    """Ops launching kernels, as the launch map records them: a mul, and an elementwise kernel whose key
    (name, grid, block) two different ops share with different bytes (ambiguous)."""
    return _doc([
        _op("aten::mul", 0, 10, 1, MUL_DIMS, ["float", "float"]),
        _rt("cudaLaunchKernel", 1, 2, 11, 1),
        _kernel("mul_kernel", 20, 30, 11, 1, grid=(4096, 1, 1)),
        _op("aten::add", 60, 10, 2, [[100], [100]], ["float", "float"]),
        _rt("cudaLaunchKernel", 61, 2, 12, 2),
        _kernel("add_kernel", 80, 5, 12, 2, grid=(1, 1, 1)),
        _op("aten::add", 90, 10, 3, [[200], [200]], ["float", "float"]),
        _rt("cudaLaunchKernel", 91, 2, 13, 3),
        _kernel("add_kernel", 100, 5, 13, 3, grid=(1, 1, 1)),
    ])


def replay_trace() -> dict:
    """One graph launch replaying mul_kernel, add_kernel and a kernel the map never saw; plus mul_kernel
    launched outside the graph by an op without shapes (must stay unknown)."""
    return _doc([
        _op("Torch-Compiled Region", 0, 50, 7),
        _rt("cudaGraphLaunch", 1, 5, 20, 7),
        _kernel("mul_kernel", 10, 28, 20, 7, grid=(4096, 1, 1)),
        _kernel("add_kernel", 40, 5, 20, 7, grid=(1, 1, 1)),
        _kernel("other_kernel", 46, 5, 20, 7),
        _kernel("mul_kernel", 60, 28, 21, 8, grid=(2048, 1, 1)),
        _op("my_op", 55, 2, 8),
        _rt("cudaLaunchKernel", 56, 1, 21, 8),
        _kernel("mul_kernel", 90, 28, 22, 9, grid=(4096, 1, 1)),
        _op("aten::mul", 88, 1, 9),
        _rt("cudaLaunchKernel", 88.5, 0.5, 22, 9),
    ])


def test_graph_replayed_rows(tmp_path):
    t = load_trace(write(tmp_path / "r.json.gz", replay_trace()))
    flags = dict(zip(range(len(t.gpu)), graph_replayed(t)))
    assert sum(flags.values()) == 3


def test_launch_map_fills_only_replayed_kernels_it_knows(tmp_path):
    m = LaunchMap.from_trace(load_trace(write(tmp_path / "m.json.gz", map_trace())))
    assert m.ambiguous == 1  # add_kernel at grid 1 moved 1200 and 2400 bytes: never guessed
    assert m.traffic[("mul_kernel", (4096, 1, 1), (128, 1, 1))].bytes == MUL_BYTES
    t = load_trace(write(tmp_path / "r.json.gz", replay_trace()))
    without = instance_traffic(t)
    assert all(x is None for x in without)
    traffic = instance_traffic(t, m)
    by_name = [(t.gpu.name[i], traffic[i]) for i in range(len(t.gpu))]
    filled = [(n, x) for n, x in by_name if x is not None]
    # the graph's kernels align with the map's launches in order: add_kernel is the map's first add (1200
    # bytes), though its key alone is ambiguous; other_kernel is not in the map
    assert [(n, x.bytes, x.source) for n, x in filled] == [("mul_kernel", MUL_BYTES, "launch map"),
                                                          ("add_kernel", 1200.0, "launch map")]


def test_analyze_uses_the_run_directory_launch_map(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write(run / "trace.json.gz", replay_trace())
    write(run / "launch-map.json.gz", map_trace())
    from bambaprof.run import Files, Manifest, RunDirWriter

    with RunDirWriter(tmp_path, "run2") as w:
        w.path("trace.json.gz").write_bytes((run / "trace.json.gz").read_bytes())
        w.path("launch-map.json.gz").write_bytes((run / "launch-map.json.gz").read_bytes())
        w.write_manifest(Manifest(kind="record", run_id="run2", name="run2",
                                  files=Files(trace="trace.json.gz", launch_map="launch-map.json.gz")))
        path = w.commit()
    a = analyze(path)
    mul = next(k for k in a.kernels if k["name"] == "mul_kernel")
    assert mul["bytes_known"] == 1 and mul["bytes_source"] == "launch map"
    assert a.summary["kernel_time_with_known_bytes_pct"] == pytest.approx(100 * (28 + 5) / (28 * 3 + 5 + 5))


def test_a_launch_map_outside_the_run_directory_is_refused(tmp_path):
    from bambaprof.run import Files, Manifest, RunDirWriter

    write(tmp_path / "evil.json.gz", map_trace())
    with RunDirWriter(tmp_path, "run") as w:
        write(w.path("trace.json.gz"), replay_trace())
        w.write_manifest(Manifest(kind="record", run_id="run", name="run",
                                  files=Files(trace="trace.json.gz", launch_map="../evil.json.gz")))
        path = w.commit()
    a = analyze(path)
    assert any("not a file name in the run directory" in n for n in a.notes)
    assert all(k["bytes_known"] == 0 for k in a.kernels)


def test_a_broken_launch_map_is_a_note(tmp_path):
    from bambaprof.run import Files, Manifest, RunDirWriter

    with RunDirWriter(tmp_path, "run") as w:
        write(w.path("trace.json.gz"), replay_trace())
        w.path("launch-map.json.gz").write_bytes(b"\x1f\x8b garbage")
        w.write_manifest(Manifest(kind="record", run_id="run", name="run",
                                  files=Files(trace="trace.json.gz", launch_map="launch-map.json.gz")))
        path = w.commit()
    a = analyze(path)
    assert any(n.startswith("launch map not used") for n in a.notes)


def _split_trace(second: str) -> dict:
    """One aten::mul over 2^31+ elements launching two kernels (32-bit index splitting) of 30 and 10 us."""
    dims = [[2, 2**30], [2, 2**30]]
    return _doc([
        _op("aten::mul", 0, 10, 1, dims, ["float", "float"]),
        _rt("cudaLaunchKernel", 1, 1, 11, 1),
        _rt("cudaLaunchKernel", 3, 1, 12, 1),
        _kernel("elementwise_kernel", 20, 30, 11, 1),
        _kernel(second, 50, 10, 12, 1),
    ])


def test_pieces_of_one_kernel_share_the_op_bytes_by_time(tmp_path):
    t = load_trace(write(tmp_path / "s.json.gz", _split_trace("elementwise_kernel")))
    traffic = instance_traffic(t)
    total = 3 * 2 * 2**30 * 4
    assert [x.bytes for x in traffic] == [pytest.approx(total * 0.75), pytest.approx(total * 0.25)]
    assert sum(x.bytes for x in traffic) == pytest.approx(total)


def test_different_kernels_of_one_op_stay_unknown(tmp_path):
    t = load_trace(write(tmp_path / "s.json.gz", _split_trace("another_kernel")))
    assert list(instance_traffic(t)) == [None, None]


def test_launch_map_json_roundtrip_keeps_manifest_readable(tmp_path):
    from bambaprof.run import Files, decode_manifest, encode_manifest
    from bambaprof.run.manifest import Manifest

    m = Manifest(kind="record", run_id="x", name="x", files=Files(trace="t", launch_map="launch-map.json.gz"))
    back = decode_manifest(encode_manifest(m))
    assert back.files.launch_map == "launch-map.json.gz"
    old = json.loads(encode_manifest(m))
    del old["files"]["launch_map"]
    assert decode_manifest(json.dumps(old).encode()).files.launch_map is None


def test_alignment_tells_apart_one_kernel_at_one_grid_with_different_shapes(tmp_path):
    # a persistent GEMM launches one wave whatever the shape: in_proj-like and mlp-like products share
    # (name, grid, block); the graph replays them in the order the map launched them
    dims_a, dims_b = [[512, 4096], [4096, 16768]], [[512, 4096], [4096, 14336]]
    bf = ["c10::BFloat16", "c10::BFloat16"]
    mapped = _doc([
        _op("aten::mm", 0, 5, 1, dims_a, bf), _rt("cudaLaunchKernel", 1, 1, 11, 1),
        _kernel("gemm", 10, 90, 11, 1, grid=(2, 66, 1)),
        _op("aten::add", 100, 5, 2, [[100], [100]], ["float", "float"]), _rt("cudaLaunchKernel", 101, 1, 12, 2),
        _kernel("add_kernel", 110, 2, 12, 2),
        _op("aten::mm", 120, 5, 3, dims_b, bf), _rt("cudaLaunchKernel", 121, 1, 13, 3),
        _kernel("gemm", 130, 80, 13, 3, grid=(2, 66, 1)),
    ])
    replay = _doc([
        _op("graph replay", 0, 10, 7), _rt("cudaGraphLaunch", 1, 5, 20, 7),
        _kernel("gemm", 10, 88, 20, 7, grid=(2, 66, 1)),
        _kernel("add_kernel", 100, 2, 20, 7),
        _kernel("gemm", 110, 79, 20, 7, grid=(2, 66, 1)),
    ])
    m = LaunchMap.from_trace(load_trace(write(tmp_path / "m.json.gz", mapped)))
    assert m.ambiguous == 1  # by key alone the two GEMMs cannot be told apart
    t = load_trace(write(tmp_path / "r.json.gz", replay))
    got = [x.bytes if x is not None else None for x in instance_traffic(t, m)]
    a = (512 * 4096 + 4096 * 16768 + 512 * 16768) * 2
    b = (512 * 4096 + 4096 * 14336 + 512 * 14336) * 2
    assert got == [a, 1200, b]


def test_inductor_counts_reach_kernels_the_map_did_not_pick(tmp_path):
    # max-autotune picked a Triton template GEMM for the graph; the map's compilation picked cuBLAS
    replay = _doc([
        _op("graph replay", 0, 10, 7), _rt("cudaGraphLaunch", 1, 5, 20, 7),
        _kernel("triton_tem_fused_mm_0", 10, 40, 20, 7, grid=(128, 1, 1)),
        _kernel("mul_kernel", 60, 28, 20, 7, grid=(4096, 1, 1)),
        _kernel("triton_poi_fused_add_1", 90, 5, 20, 7),
    ])
    from bambaprof.run import Files, Manifest, RunDirWriter

    with RunDirWriter(tmp_path, "run") as w:
        write(w.path("trace.json.gz"), replay)
        write(w.path("launch-map.json.gz"), map_trace())
        w.write_json("inductor-kernels.json", {
            "triton_tem_fused_mm_0": {"kernel_num_gb": 0.001, "kernel_flop": 2e9},
            "triton_poi_fused_add_1": {"kernel_num_gb": "lots"},  # malformed: skipped
        })
        w.write_manifest(Manifest(kind="record", run_id="run", name="run",
                                  files=Files(trace="trace.json.gz", launch_map="launch-map.json.gz",
                                              inductor_kernels="inductor-kernels.json")))
        path = w.commit()
    a = analyze(path)
    by = {k["name"]: k for k in a.kernels}  # table names drop inductor's numeric suffix
    assert by["triton_tem_fused_mm"]["bytes"] == 1e6 and by["triton_tem_fused_mm"]["flops"] == 2e9
    assert by["triton_tem_fused_mm"]["bytes_source"] == "inductor module"
    assert by["mul_kernel"]["bytes_source"] == "launch map"
    assert by["triton_poi_fused_add"]["bytes"] is None


def test_unreadable_inductor_counts_are_a_note(tmp_path):
    from bambaprof.run import Files, Manifest, RunDirWriter

    with RunDirWriter(tmp_path, "run") as w:
        write(w.path("trace.json.gz"), replay_trace())
        w.path("inductor-kernels.json").write_text("[" * 5000)
        w.write_manifest(Manifest(kind="record", run_id="run", name="run",
                                  files=Files(trace="trace.json.gz", inductor_kernels="inductor-kernels.json")))
        path = w.commit()
    assert any(n.startswith("inductor's kernel counts not used") for n in analyze(path).notes)


def test_foreach_copy_of_graph_inputs_takes_dtypes_from_the_kernel_name(tmp_path):
    name = ("void at::native::multi_tensor_apply_kernel<TensorListMetadata<2>, UnaryOpFunctor<c10::BFloat16, 2, 1, 1>, "
            "at::native::Copy<c10::BFloat16, c10::BFloat16> >(...)")
    dims = [[[1, 512, 4096], [8]], [[1, 512, 4096], [8]], []]
    doc = _doc([
        _op("aten::_foreach_copy_", 0, 5, 1, dims, ["TensorList", "TensorList", "Scalar"]),
        _rt("cudaLaunchKernel", 1, 1, 11, 1),
        _kernel(name, 10, 15, 11, 1),
        _op("aten::_foreach_copy_", 30, 5, 2, dims, ["TensorList", "TensorList", "Scalar"]),
        _rt("cudaLaunchKernel", 31, 1, 12, 2),
        _kernel("multi_tensor_apply_kernel<no dtype here>", 40, 15, 12, 2),
    ])
    traffic = instance_traffic(load_trace(write(tmp_path / "f.json.gz", doc)))
    assert traffic[0].bytes == (512 * 4096 + 8) * 4 and traffic[1] is None
