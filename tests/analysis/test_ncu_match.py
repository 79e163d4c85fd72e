"""Matching Nsight Compute's kernels to a trace's launches: names as both demanglers write them, launch order kept,
the grid and block preferred, another program's kernels in the capture left unmatched."""

from pathlib import Path

from bambaprof.analysis import ncu_match
from bambaprof.analysis.ncu_match import base_kernel_name, kernel_signature, match_launches

DATA = Path(__file__).resolve().parents[1] / "data"

# one kernel as Kineto (CUPTI) and Nsight Compute 2025 wrote it on the H200 (tests/data/h200-mixers-*)
KINETO_SILU = ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::silu_kernel("
               "at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#2}::operator()() const::"
               "{lambda(float)#1}, std::array<char*, 2ul> >(int, at::native::(anonymous namespace)::silu_kernel("
               "at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#2}::operator()() const::"
               "{lambda(float)#1}, std::array<char*, 2ul>)")
NCU_SILU = ("void at::vectorized_elementwise_kernel<4, at::<unnamed>::silu_kernel(at::TensorIteratorBase &)::"
            "[lambda() (instance 1)]::operator ()() const::[lambda() (instance 2)]::operator ()() const::"
            "[lambda(float) (instance 1)], std::array<char *, 2>>(int, T2, T3)")
NCU_SOFTPLUS = ("void at::vectorized_elementwise_kernel<8, at::<unnamed>::softplus_kernel(at::TensorIteratorBase &, "
                "const c10::Scalar &, const c10::Scalar &)::[lambda() (instance 1)]::operator ()() const::"
                "[lambda() (instance 4)]::operator ()() const::[lambda(c10::BFloat16) (instance 1)], "
                "std::array<char *, 2>>(int, T2, T3)")
KINETO_MUL = ("void at::native::vectorized_elementwise_kernel<4, at::native::BinaryFunctor<float, float, float, "
              "at::native::binary_internal::MulFunctor<float> >, std::array<char*, 3ul> >(int, at::native::"
              "BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> >, "
              "std::array<char*, 3ul>)")
NCU_MUL = ("void at::vectorized_elementwise_kernel<4, at::BinaryFunctor<float, float, float, MulFunctor<float>>, "
           "std::array<char *, 3>>(int, T2, T3)")
G, B = (4096, 1, 1), (128, 1, 1)


def test_both_demanglers_spellings_of_one_kernel_have_one_signature():
    assert base_kernel_name(KINETO_SILU) == base_kernel_name(NCU_SILU) == "vectorized_elementwise_kernel"
    assert kernel_signature(KINETO_SILU) == kernel_signature(NCU_SILU)
    assert "silu_kernel" in kernel_signature(KINETO_SILU)
    assert kernel_signature(KINETO_MUL) == kernel_signature(NCU_MUL)
    # one base name, other functors: not the same kernel
    assert kernel_signature(NCU_SOFTPLUS) != kernel_signature(NCU_SILU)
    assert kernel_signature(KINETO_MUL) != kernel_signature(KINETO_SILU)
    assert kernel_signature("_chunk_scan_fwd_kernel") == frozenset({"_chunk_scan_fwd_kernel"})


def test_a_kernel_of_the_same_base_name_with_another_functor_is_not_a_match():
    """Matched by base name alone, ncu's softplus took the trace's silu."""
    assert match_launches([KINETO_SILU], [(G, B)], [NCU_SOFTPLUS, NCU_SILU], [(G, B), (G, B)]) == [None, 0]
    # nothing to tell the demanglers agree on this base name: the base name matches only the same launch
    assert match_launches([KINETO_SILU], [(G, B)], [NCU_SOFTPLUS], [((64, 1, 1), B)]) == [None]


def test_where_the_demanglers_never_agree_on_a_kernel_its_base_name_matches_the_same_launch():
    trace = ["void ns::my_kernel<ns::Functor<float> >(ns::Params)"]
    ncu = ["void ns::my_kernel<ns::Functor<float, 4>, ns::Extra>(T1)"]  # another spelling of its template
    assert kernel_signature(trace[0]) != kernel_signature(ncu[0])
    assert match_launches(trace, [(G, B)], ncu, [(G, B)]) == [0]
    assert match_launches(trace, [(G, B)], ncu, [None]) == [0]
    assert match_launches(trace, [(G, B)], ncu, [((1, 1, 1), B)]) == [None]


def test_another_programs_kernels_first_in_the_capture_do_not_shift_the_matches():
    """ncu's first program shares kernels with the trace's program (its input GEMM and a copy, launched alike) and
    has its own; taking the first launch of each name in turn matched its GEMMs by name far into the trace, and the
    trace's own kernels after them went unmatched."""
    step = ["gemm", "copy", "conv", "silu", "gemm_out"]
    trace = step * 3
    launches = [((i % 5 + 1, 1, 1), B) for i in range(len(trace))]
    other = ["gemm", "copy", "scan", "norm", "gemm_out"]
    other_launches = [((1, 1, 1), B), ((2, 1, 1), B), ((7, 1, 1), B), ((7, 1, 1), B), ((9, 9, 1), B)]
    picks = match_launches(trace, launches, other + step, other_launches + launches[:5])
    own = picks[len(other):]
    assert None not in own and own == sorted(own) and [trace[p] for p in own] == step
    assert all(launches[p] == launches[k] for k, p in enumerate(own))
    assert picks[2:4] == [None, None]  # the other program's own kernels


def test_a_launch_of_the_same_grid_and_block_is_preferred_in_order():
    trace = ["copy", "copy", "add"]
    launches = [((1, 1, 1), B), ((128, 1, 1), B), ((1, 1, 1), B)]
    assert match_launches(trace, launches, ["copy", "add"], [((128, 1, 1), B), ((1, 1, 1), B)]) == [1, 2]
    # an autotuned kernel tiled otherwise in ncu's process still finds its launch by name
    assert match_launches(["_chunk_scan"], [((8, 2, 128), (64, 1, 1))], ["_chunk_scan"],
                          [((8, 2, 128), (128, 1, 1))]) == [0]
    # a launch unknown to ncu's CSV matches by name
    assert match_launches(trace, launches, ["add"], [None]) == [2]


def test_matches_keep_launch_order_and_take_each_launch_once():
    trace = ["a", "b", "a", "b"]
    launches = [(G, B)] * 4
    assert match_launches(trace, launches, ["b", "a", "a", "b", "b"], [(G, B)] * 5) in (
        [1, 2, None, 3, None], [1, 2, None, None, 3], [None, 0, 2, 3, None], [1, None, 2, 3, None])
    picks = match_launches(trace, launches, ["b", "a", "a", "b", "b"], [(G, B)] * 5)
    taken = [p for p in picks if p is not None]
    assert len(taken) == 3 and taken == sorted(set(taken))
    assert match_launches([], [], ["a"], [(G, B)]) == [None]
    assert match_launches(["a"], [(G, B)], [], []) == []


def test_past_the_pair_budget_kernels_are_matched_in_order(monkeypatch):
    monkeypatch.setattr(ncu_match, "MAX_PAIRS", 3)
    trace = ["gemm", "copy", "conv", "gemm", "copy", "conv"]
    launches = [(G, B)] * 6
    assert match_launches(trace, launches, ["copy", "conv", "gemm", "copy"], [(G, B)] * 4) == [1, 2, 3, 4]


def test_a_long_trace_is_matched_at_once():
    """20,000 launches of 40 kernels against ncu's 400: 200,000 candidate pairs, aligned (no timing assertion; it
    runs the alignment on a long trace)."""
    names = [f"k{i % 40}" for i in range(20_000)]
    launches = [((i % 40 + 1, 1, 1), B) for i in range(20_000)]
    picks = match_launches(names, launches, names[4000:4400], launches[4000:4400])
    assert all(p is not None for p in picks) and picks == sorted(picks)
    assert [names[p] for p in picks] == names[4000:4400]
    # each matched at the same grid: the earliest such run is taken
    assert picks[0] == 0 and picks[-1] == 399


def test_the_shared_mixer_capture_matches_each_trace_as_its_own_half_did():
    """tests/data/h200-mixers-ncu.csv.gz holds two programs (ncu IDs 0-27: the mamba_ssm mixer, 28-110: the naive
    FMS mixer). Given whole beside either trace, each of its own program's kernels matches the launch it matched
    when the capture was cut to that program (in one of the trace's three forwards), with the same grid and block
    wherever that did."""
    from bambaprof.analysis.ncu import compare_with_ncu, read_ncu_csv
    from bambaprof.analysis.trace import load_trace

    records = read_ncu_csv(DATA / "h200-mixers-ncu.csv.gz")
    for trace_file, own in (("h200-mamba-ssd-mixer-eager-b1-L512.json.gz", slice(0, 28)),
                            ("h200-fms-naive-mixer-eager-b1-L512.json.gz", slice(28, 111))):
        trace = load_trace(DATA / trace_file)
        whole = {r["ncu_id"]: r for r in compare_with_ncu(trace, records)}
        cut = compare_with_ncu(trace, records[own])
        assert cut and all(r["matched"] for r in cut)
        for r in cut:
            w = whole[r["ncu_id"]]
            assert w["matched"] and w["same_launch"] == r["same_launch"], r["ncu_id"]
            # the same kernel; for the naive mixer, in another profiled forward (its first one took the other
            # program's kernels that the two mixers share)
            assert w["name"] == r["name"], r["ncu_id"]


def test_a_launch_of_another_grid_gets_no_bandwidth_ratio(tmp_path):
    """ncu's bytes of a launch that did other work are not the trace's launch's: no derived/measured ratio, and no
    dram-overfetch from it."""
    import gzip

    from bambaprof.analysis import analyze

    lines = gzip.decompress((DATA / "h200-validation-ncu.csv.gz").read_bytes()).decode().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))
    grid = lines[header].split('","').index("Grid Size")
    moved = []
    for line in lines[header + 1:]:
        cells = line.split('","')
        cells[grid] = "(3, 1, 1)"
        moved.append('","'.join(cells))
    path = tmp_path / "ncu.csv"
    path.write_text("\n".join(lines[:header + 1] + moved) + "\n")
    same = analyze(DATA / "h200-validation-trace.json.gz", ncu_csv=DATA / "h200-validation-ncu.csv.gz")
    other = analyze(DATA / "h200-validation-trace.json.gz", ncu_csv=path)
    assert all(r["same_launch"] and r["gbps_ratio"] for r in same.ncu)
    assert other.ncu and all(r["matched"] and not r["same_launch"] and r["gbps_ratio"] is None for r in other.ncu)
    assert all(r["ncu_dram_gbps"] == s["ncu_dram_gbps"] for r, s in zip(other.ncu, same.ncu))
    assert any("another grid or block" in n for n in other.notes)
    assert not any("another grid or block" in n for n in same.notes)


def _two_processes(tmp_path, second_device, rename_second=False, rename_first=False):
    """The validation capture (one process, 674, device 0) and a copy of it as a second process (777) on
    ``second_device``, its kernel IDs after the first's; either one's kernels renamed (another program)."""
    import csv
    import gzip
    import io

    text = gzip.decompress((DATA / "h200-validation-ncu.csv.gz").read_bytes()).decode()
    rows = list(csv.reader(io.StringIO(text[text.index('"ID"'):])))
    pid, dev, kid, kname = (rows[0].index(c) for c in ("Process ID", "Device", "ID", "Kernel Name"))
    first, second = [], []
    for row in rows[1:]:
        other = list(row)
        other[pid], other[dev], other[kid] = "777", str(second_device), str(int(row[kid]) + 100)
        if rename_second:
            other[kname] = "other_program_" + other[kname]
        if rename_first:
            row = list(row)
            row[kname] = "other_program_" + row[kname]
        first.append(row)
        second.append(other)
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL).writerows([rows[0]] + first + second)
    path = tmp_path / "two.csv"
    path.write_text(out.getvalue())
    return path


def test_a_capture_of_several_processes_keeps_the_one_that_is_this_trace(tmp_path):
    """``ncu --target-processes all`` over two ranks: the trace (one rank, device 0) is matched against the
    process on its device, and a note names it and counts the kernels left out."""
    from bambaprof.analysis import analyze

    trace = DATA / "h200-validation-trace.json.gz"
    one = analyze(trace, ncu_csv=DATA / "h200-validation-ncu.csv.gz").ncu
    a = analyze(trace, ncu_csv=_two_processes(tmp_path, second_device=1))
    assert [r["ncu_id"] for r in a.ncu] == [r["ncu_id"] for r in one]  # process 674's, not 777's
    assert [r["gbps_ratio"] for r in a.ncu] == [r["gbps_ratio"] for r in one]
    note = next(n for n in a.notes if "processes" in n)
    assert "2 processes: process 674 (device 0)" in note and "other processes' 4 kernels were left out" in note
    # both on the trace's device: the process whose kernels match the trace
    b = analyze(trace, ncu_csv=_two_processes(tmp_path, second_device=0, rename_first=True))
    assert [r["ncu_id"] for r in b.ncu] == [r["ncu_id"] + 100 for r in one] and all(r["matched"] for r in b.ncu)
    assert any("process 777 (device 0) matched this trace best (4 of its 4 kernels)" in n for n in b.notes)
    c = analyze(trace, ncu_csv=_two_processes(tmp_path, second_device=0, rename_second=True))
    assert [r["ncu_id"] for r in c.ncu] == [r["ncu_id"] for r in one]


def test_a_real_capture_of_two_processes_matches_each_trace_to_its_own_process():
    """A real H100 capture (benchmarks/ncu_two_processes.py under ncu --target-processes all, 2026-12-07): two
    processes, both with an SGEMM, its split-K reduction and a vectorized elementwise kernel (SiLU in one, softplus
    in the other), and each process's own PyTorch profiler trace. Each trace takes its own process's kernels, all on
    ncu's grid and block. Matched as one list (before 2026-12-07), the second trace's GEMM, split-K reduction and
    softplus took the first process's kernels (its softplus the first's SiLU), and three of its own four went
    unmatched."""
    from bambaprof.analysis import analyze

    ncu = DATA / "ncu" / "h100-two-processes-ncu-raw.csv.gz"
    for rank, ids in ((0, [0, 1, 2, 3, 4]), (1, [5, 6, 7, 8])):
        a = analyze(DATA / "ncu" / f"h100-two-processes-rank{rank}.json.gz", ncu_csv=ncu)
        assert [r["ncu_id"] for r in a.ncu] == ids
        assert all(r["matched"] and r["same_launch"] for r in a.ncu)
        assert any(f"matched this trace best ({len(ids)} of its {len(ids)} kernels)" in n for n in a.notes)
    silu = analyze(DATA / "ncu" / "h100-two-processes-rank0.json.gz", ncu_csv=ncu).ncu[2]
    assert "silu_kernel" in silu["name"]
