"""The local viewer: serve a folder of reports, with an index of reports and run directories.

Only files inside the served folder are ever sent: every request path is
resolved (symbolic links included) and must stay under the folder's real
path, else 404 (a path that cannot be resolved: a NUL byte, a symbolic-link
loop, too long, is 404 too; a file that cannot be read is 403). Only GET and
HEAD are answered. The server binds 127.0.0.1 unless told otherwise, on a free
port by default; bound to a loopback address it answers only requests whose
``Host`` header names a loopback host (403 otherwise), so a web page cannot
reach it through a rebound DNS name.
"""

from __future__ import annotations

import datetime
import ipaddress
import mimetypes
import os
import posixpath
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

from .._version import __version__
from ..errors import BambaprofError
from ..run import iter_run_dirs, read_manifest


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_dirs(runs_dir: Optional[Path]) -> Dict[str, Path]:
    """The run directories the viewer lists, by their path under ``runs_dir`` (``<run>`` or
    ``examples/<run>``): the only run directories its ``/runs/`` pages ever open."""
    if runs_dir is None:
        return {}
    found = list(iter_run_dirs(runs_dir)) + list(iter_run_dirs(runs_dir / "examples"))
    return {d.relative_to(runs_dir).as_posix(): d for d in found}


def index_entries(root: Path, runs_dir: Optional[Path]) -> Dict[str, List[Dict[str, Any]]]:
    """Reports (HTML files under ``root``) and run directories (under ``runs_dir``), newest first."""
    reports = []
    for p in root.rglob("*.html"):
        real = p.resolve()
        if p.is_file() and str(real).startswith(str(root.resolve()) + os.sep):
            st = p.stat()
            reports.append({"path": p.relative_to(root).as_posix(), "size_mb": st.st_size / 1e6, "mtime": st.st_mtime,
                            "modified": datetime.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")})
    reports.sort(key=lambda r: -r["mtime"])
    runs = []
    if runs_dir is not None:
        for rel, d in run_dirs(runs_dir).items():
            link = "/runs/" + urllib.parse.quote(rel) + "/"
            try:
                m = read_manifest(d)
            except BambaprofError as exc:  # an unreadable manifest is listed as such
                runs.append({"run_id": d.name, "status": "unreadable manifest", "created": "", "latency_ms": None,
                             "throughput": None, "peak_gb": None, "device": None, "error": str(exc), "link": None,
                             "trace": None})
                continue
            if m is None:
                continue
            peak = m.memory.peak_allocated_bytes
            has_trace = m.ok and m.files.trace is not None
            runs.append({"run_id": d.name, "link": link if has_trace else None,
                         "trace": link + "trace.json.gz" if has_trace else None,
                         "status": m.status, "created": m.created or "",
                         "latency_ms": m.latency_ms, "throughput": m.throughput_tokens_per_s,
                         "peak_gb": peak / 1e9 if peak else None, "device": m.device_name, "error": m.error})
        runs.sort(key=lambda r: r["created"], reverse=True)
    return {"reports": reports, "runs": runs}


def render_index(root: Path, runs_dir: Optional[Path]) -> str:
    from .html import _environment

    entries = index_entries(root, runs_dir)
    return _environment().get_template("index.html.j2").render(
        root=str(root), runs_dir=str(runs_dir) if runs_dir else None, version=__version__, **entries)


class ReportHandler(BaseHTTPRequestHandler):
    """GET/HEAD of files under ``server.root``; ``/`` is the generated index."""

    server_version = f"bambaprof/{__version__}"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the command prints the address
        pass

    def _resolve(self) -> Optional[Path]:
        root: Path = self.server.root  # type: ignore[attr-defined]
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
        try:
            candidate = root.joinpath(*parts).resolve() if parts else root
            candidate.relative_to(root)
            return candidate if candidate.is_file() else None
        except (ValueError, OSError, RuntimeError):  # outside the root, NUL byte, symlink loop, name too long
            return None

    def _host_allowed(self) -> bool:
        """Bound to loopback: the Host header must name a loopback host (DNS-rebinding defence)."""
        if not is_loopback(str(self.server.server_address[0])):
            return True
        host = self.headers.get("Host")
        if host is None:
            return True  # HTTP/1.0 clients send none; no browser omits it
        name = urllib.parse.urlsplit(f"//{host}").hostname or ""
        return is_loopback(name)

    def _send(self, status: int, body: bytes, ctype: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        if not self._host_allowed():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain; charset=utf-8", head)
            return
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/", "/index.html") and not (self.server.root / "index.html").is_file():  # type: ignore[attr-defined]
            body = render_index(self.server.root, self.server.runs_dir).encode()  # type: ignore[attr-defined]
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", head)
            return
        if path.startswith("/runs/"):
            self._serve_run(urllib.parse.unquote(path[len("/runs/"):]), head)
            return
        target = self._resolve()
        if target is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)
            return
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/json", "application/javascript"):
            ctype += "; charset=utf-8"
        try:
            body = target.read_bytes()
        except OSError:
            self._send(HTTPStatus.FORBIDDEN, b"cannot read\n", "text/plain; charset=utf-8", head)
            return
        self._send(HTTPStatus.OK, body, ctype, head)

    def _serve_run(self, rest: str, head: bool) -> None:
        """``/runs/<run>/``: the run's report, built on demand; ``/runs/<run>/trace.json.gz``: its trace, to
        download (for Perfetto). Only the run directories of the index are ever opened."""
        rel, leaf = rest.rstrip("/"), ""
        if rel.endswith("/trace.json.gz"):
            rel, leaf = rel[:-len("/trace.json.gz")], "trace.json.gz"
        run = run_dirs(self.server.runs_dir).get(rel)  # type: ignore[attr-defined]
        if run is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)
            return
        try:
            if leaf:
                from ..analysis.source import resolve

                trace = resolve(run).trace_path
                self.send_response(HTTPStatus.OK)
                body = trace.read_bytes()
                self.send_header("Content-Type", "application/gzip" if trace.name.endswith(".gz") else "application/json")
                self.send_header("Content-Disposition", f'attachment; filename="{run.name}.pt.trace.json'
                                 f'{".gz" if trace.name.endswith(".gz") else ""}"')
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return
            from .html import build_report

            page = build_report([run], title=f"run {run.name}").encode()
        except (BambaprofError, OSError) as exc:
            self._send(HTTPStatus.NOT_FOUND, f"{exc}\n".encode(), "text/plain; charset=utf-8", head)
            return
        self._send(HTTPStatus.OK, page, "text/html; charset=utf-8", head)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)


def make_server(root: Path, runs_dir: Optional[Path] = None, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threading HTTP server for ``root`` (not started); ``port=0`` picks a free port."""
    server = ThreadingHTTPServer((host, port), ReportHandler)
    server.root = Path(root).resolve()  # type: ignore[attr-defined]
    server.runs_dir = Path(runs_dir).resolve() if runs_dir else None  # type: ignore[attr-defined]
    server.daemon_threads = True
    return server
