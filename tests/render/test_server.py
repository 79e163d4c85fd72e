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
