from bambaprof.collect import host_speed
from bambaprof.run import HostInfo, Manifest, decode_manifest, encode_manifest


def test_the_probe_times_its_loop_and_keeps_the_median(monkeypatch):
    ticks = iter([0, 3_000_000, 10_000_000, 11_000_000, 20_000_000, 22_000_000])  # runs of 3, 1 and 2 ms
    monkeypatch.setattr(host_speed.time, "perf_counter_ns", lambda: next(ticks))
    monkeypatch.setattr(host_speed, "PROBE_STEPS", 10)
    assert host_speed.probe_us(repeats=3) == 2000.0
    assert host_speed.probe_us.__defaults__ == (host_speed.PROBE_REPEATS,)


def test_the_probe_runs_for_real():
    assert 0 < host_speed.probe_us(repeats=1) < 1e7


def test_host_info_and_its_manifest_round_trip():
    info = host_speed.host_info(1700.0, 3300.0)
    assert info.logical_cpus and info.logical_cpus > 0
    assert info.probe_us == 2500.0 and round(info.probe_change, 4) == round(3300 / 1700, 4)
    m = Manifest(run_id="r", name="r", host=info)
    back = decode_manifest(encode_manifest(m))
    assert back.host == info
    old = decode_manifest(b'{"schema_version": 2, "run_id": "r", "name": "r"}')  # written before the probe existed
    assert old.host is None
    half = HostInfo(probe_before_us=1700.0)
    assert half.probe_us == 1700.0 and half.probe_change is None and HostInfo().probe_us is None
