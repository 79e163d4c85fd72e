"""``BAMBAPROF_SSD_SCAN``: which chunk scan the ``triton`` variant's forward launches."""

import dataclasses

import pytest
import torch

from bambaprof.cli import main
from bambaprof.ssm import get_variant
from bambaprof.ssm.kernels import ssd, ssd_sm90
from tests.ssm.helpers import rel_err, run, ssd_inputs


def test_unset_the_default_scan_serves(scan_env):
    scan_env(None)
    assert ssd.scan_kernel_from_env() is None
    assert ssd.launch_config(torch.bfloat16, 256, 64).scan_kernel == ssd.LaunchConfig().scan_kernel == "auto"
    assert ssd.AUTO_FORM in ssd_sm90.FORMS


@pytest.mark.parametrize("programs, capturing, expected", [
    (256, False, "triton"), (1023, False, "triton"),  # 1x512: the host's launch work is the forward's wall time
    (1024, False, ssd.AUTO_FORM), (4095, False, ssd.AUTO_FORM),  # 1x2048: a mixer's GPU covers the launch
    (4096, False, ssd.AUTO_FORM), (8192, False, ssd.AUTO_FORM), (32768, False, ssd.AUTO_FORM),  # 1x8192 and up
    (256, True, ssd.AUTO_FORM), (1, True, ssd.AUTO_FORM),  # a CUDA graph pays the launch once
    (1023, True, ssd.AUTO_FORM), (1024, True, ssd.AUTO_FORM)])
def test_auto_runs_the_gluon_scan_where_a_forward_gains_by_it(programs, capturing, expected):
    """At Bamba-9B shapes (128 heads, one head-dim block) 1,024 programs is 1 x 2048 tokens, from where four eager
    mixers one after another took as long with the Gluon scan as with the Triton one on an H200 (2.97 to 3.03 ms)
    and less GPU time (2.83 to 2.88 against 2.99 ms); at 1 x 512 the host bound them and the Gluon launch cost
    0.2 to 0.3 ms. From there the three-programs-an-SM form with x weighted once (``gluon_scaled``) won in kernel
    time on an H100 (1 x 2048: 84.5 and 84.3 against ``gluon_late``'s 88.9 and 88.4 us), and the same taking its work
    by launch index (``gluon_ordered``) won at every size up to 8 x 2048 (27.8 against 30.0 us at 1 x 512, 81.5
    against 84.5 at 1 x 2048)."""
    assert ssd.auto_scan(programs, capturing) == expected
    assert ssd.EAGER_GLUON_PROGRAMS == 1 * (2048 // 256) * 128 * 1


@pytest.mark.parametrize("programs", [1, 256, 1023, 1024, 32768])
def test_with_whole_forwards_kept_auto_runs_the_gluon_scan_at_every_size(programs):
    """Where the launch shortcut keeps whole forwards (``launch.LaunchMemo``), a repeated eager forward launches
    without its Python, so the Gluon launch's host work is paid once a distinct forward: four eager mixers at 1 x 512
    took 1.402 and 1.082 ms with ``gluon_ordered`` against 1.695 and 1.094 with the Triton scan on an H100 SXM
    (``h100-launch-memo.json``)."""
    assert ssd.auto_scan(programs, False, kept_forwards=True) == ssd.AUTO_FORM
    assert ssd.auto_scan(programs, True, kept_forwards=True) == ssd.AUTO_FORM


@pytest.mark.parametrize("value, expected", [("triton", "triton"), (" Gluon_2D ", "gluon_2d"), ("auto", "auto"),
                                             ("", None)])
def test_a_name_picks_the_scan(scan_env, value, expected):
    scan_env(value)
    assert ssd.scan_kernel_from_env() == expected
    cfg = ssd.launch_config(torch.bfloat16, 256, 64)
    assert cfg.scan_kernel == (expected or ssd.LaunchConfig().scan_kernel)
    assert cfg.scan_bm == 64 and cfg.chunk == 256  # the rest of the options as before


def test_the_tuning_override_wins(scan_env, monkeypatch):
    scan_env("triton")
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel="gluon"))
    assert ssd.launch_config(torch.bfloat16, 256, 64).scan_kernel == "gluon"


def test_a_name_that_is_no_scan_is_refused(scan_env):
    scan_env("fastest")
    with pytest.raises(ValueError, match="BAMBAPROF_SSD_SCAN='fastest' is not a chunk scan: use auto, triton or one of gl"):
        ssd.launch_config(torch.bfloat16, 256, 64)


@pytest.mark.parametrize("value, expected, chunk", [
    ("gluon_late:128", "gluon_late:128", 128), (" Triton : 064 ", "triton:64", 64), ("auto:16", "auto:16", 16),
    ("gluon_slim:512", "gluon_slim:512", 256),  # a kernel chunk that does not tile the model's: the model's is used
    ("triton:96", "triton:96", 256)])
def test_a_kernel_chunk_after_the_name_tiles_the_models(scan_env, value, expected, chunk):
    scan_env(value)
    assert ssd.scan_kernel_from_env() == expected
    cfg = ssd.launch_config(torch.bfloat16, 256, 64)
    assert cfg.scan_kernel == expected.partition(":")[0] and cfg.chunk == chunk
    assert cfg.scan_bm == min(64, chunk) and cfg.cb_rows == min(64, chunk)  # blocks clipped to the kernel chunk
    assert ssd.launch_config(torch.float32, 256, 64).scan_bm == min(32, chunk)  # each dtype keeps its own options


@pytest.mark.parametrize("value", ["triton:", "gluon_late:0", "gluon_late:100", "gluon_late:-64", "auto:12.8",
                                   "auto:x", "gluon_late:128:64"])
def test_a_kernel_chunk_that_is_no_multiple_of_16_is_refused(scan_env, value):
    scan_env(value)
    with pytest.raises(ValueError, match=rf"BAMBAPROF_SSD_SCAN={value!r} names a kernel chunk that is not a positive "
                                         r"multiple of 16 \(positions; e\.g\. [a-z_]+:128\)$"):
        ssd.scan_kernel_from_env()


def test_a_kernel_chunk_does_not_hide_an_unknown_name(scan_env):
    scan_env("fastest:128")
    with pytest.raises(ValueError, match="BAMBAPROF_SSD_SCAN='fastest:128' is not a chunk scan"):
        ssd.scan_kernel_from_env()


@pytest.mark.parametrize("argv", [["profile"], ["bench", "ssd"], ["check"], ["accuracy"], ["sweep", "run"]])
def test_commands_that_run_kernels_refuse_it_before_any_run(scan_env, tmp_path, monkeypatch, capsys, argv):
    scan_env("fastest")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "bambaprof: error: BAMBAPROF_SSD_SCAN='fastest' is not a chunk scan: use auto, triton or one of "
        f"{', '.join(sorted(ssd_sm90.FORMS))} (optionally with the kernels' chunk after a colon, e.g. "
        f"{ssd.AUTO_FORM}:128)"]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_variant_runs_with_the_triton_scan_named(scan_env):
    """fp32 inputs (and the CPU's interpreter) run ``_chunk_scan`` whatever the setting: naming it changes nothing."""
    inp = ssd_inputs(b=1, L=40, h=2, p=16, g=1, n=16, dtype=torch.float32)
    scan_env(None)
    y0, s0 = run(get_variant("triton"), inp, 16, dt_softplus=True)
    scan_env("triton")
    y1, s1 = run(get_variant("triton"), inp, 16, dt_softplus=True)
    assert torch.equal(y1, y0) and torch.equal(s1, s0)


def test_the_variant_runs_on_the_kernel_chunk_named(scan_env):
    """``triton:16`` tiles a model chunk of 32 by 16: the same recurrence against float64, by other arithmetic than
    the model's chunk (fp32 on the CPU's interpreter)."""
    inp = ssd_inputs(b=1, L=75, h=2, p=16, g=1, n=16, dtype=torch.float32, initial_state=True)
    scan_env(None)
    y0, s0 = run(get_variant("triton"), inp, 32, dt_softplus=True)
    scan_env("triton:16")
    assert ssd.launch_config(torch.float32, 32, 16).chunk == 16
    y1, s1 = run(get_variant("triton"), inp, 32, dt_softplus=True)
    y_ref, s_ref = run(get_variant("reference"), {k: v.double() if torch.is_tensor(v) else v for k, v in inp.items()},
                       32, dt_softplus=True)
    assert not torch.equal(y1, y0)
    for y, s in ((y0, s0), (y1, s1)):
        assert rel_err(y, y_ref) < 1e-5 and rel_err(s, s_ref) < 1e-5
