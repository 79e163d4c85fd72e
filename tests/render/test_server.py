"""bambaprof view's server: files under the folder only, on loopback."""

import threading
import urllib.error
import urllib.request

import pytest

from bambaprof.cli import main
from bambaprof.render.server import is_loopback, make_server


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "reports"
    (root / "sub").mkdir(parents=True)
    (root / "a.html").write_text("<html>report a</html>")
    (root / "sub" / "b.html").write_text("<html>report b</html>")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    server = make_server(root, None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_index_and_files(served):
    base, server = served
    assert server.server_address[0] == "127.0.0.1"
    status, body = get(base + "/")
    assert status == 200 and "a.html" in body and "sub/b.html" in body
    assert get(base + "/a.html") == (200, "<html>report a</html>")
    assert get(base + "/sub/b.html")[0] == 200
    assert get(base + "/a.html", "HEAD") == (200, "")


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/link.txt",
                                  "//etc/passwd", "/nothing.html", "/sub"])
def test_nothing_outside_the_folder(served, path):
    base, _ = served
    status, body = get(base + path)
    assert status == 404 and "secret" not in body


def test_post_is_refused(served):
    base, _ = served
    assert get(base + "/a.html", "POST")[0] == 501


def test_loopback_rules(tmp_path, capsys):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert main(["view", str(tmp_path), "--bind", "0.0.0.0", "--no-browser"]) == 2
    assert "add --public" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "missing"), "--no-browser"]) == 2


def _raw(base, path, host=None):
    """A request with a raw path and Host header (urllib would quote the path and set the host)."""
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return resp.status, body


def test_hostile_paths_answer_404_or_403_without_a_handler_error(served, capsys, monkeypatch):
    import pathlib

    base, server = served
    root = server.root
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    locked = root / "locked.html"
    locked.write_text("x")
    real_read = pathlib.Path.read_bytes

    def read_bytes(self):  # as for a file without read permission (root here reads anything)
        if self.name == "locked.html":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    assert _raw(base, "/%00")[0] == 404
    assert _raw(base, "/a%00.html")[0] == 404
    assert _raw(base, "/loop1")[0] == 404
    assert _raw(base, "/" + "x" * 5000)[0] == 404
    assert _raw(base, "/locked.html")[0] == 403
    assert "Traceback" not in capsys.readouterr().err


def test_dns_rebinding_is_refused(served):
    base, server = served
    port = server.server_address[1]
    assert _raw(base, "/a.html", host=f"evil.example:{port}")[0] == 403
    assert _raw(base, "/", host="attacker.test")[0] == 403
    assert _raw(base, "/a.html", host=f"localhost:{port}")[0] == 200
    assert _raw(base, "/a.html", host=f"127.0.0.1:{port}")[0] == 200
    assert _raw(base, "/a.html", host=f"[::1]:{port}")[0] == 200


def test_runs_are_links_to_reports_and_traces(tmp_path):
    import gzip
    import shutil
    from pathlib import Path

    runs = tmp_path / "traces"
    example = Path(__file__).resolve().parents[2] / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"
    shutil.copytree(example, runs / "examples" / example.name)
    (tmp_path / "reports").mkdir()
    server = make_server(tmp_path / "reports", runs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        status, index = get(base + "/")
        link = f"/runs/examples/{example.name}/"
        assert status == 200 and f'href="{link}"' in index and f'href="{link}trace.json.gz"' in index
        assert "ui.perfetto.dev" in index
        status, page = get(base + link)
        assert status == 200 and "<!DOCTYPE html>" in page and example.name in page
        req = urllib.request.Request(base + link + "trace.json.gz")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert "attachment" in resp.headers["Content-Disposition"]
            assert json_events(gzip.decompress(resp.read()))
        for bad in ("/runs/../secret/", "/runs/examples/nope/", "/runs/examples/%2e%2e/", f"/runs/{example.name}/"):
            assert get(base + bad)[0] == 404, bad
    finally:
        server.shutdown()
        server.server_close()


def json_events(raw: bytes) -> list:
    import json

    return json.loads(raw)["traceEvents"]
