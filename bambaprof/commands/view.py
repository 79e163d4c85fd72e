"""``bambaprof view``: serve reports/ and an index of reports and run directories, locally."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ._common import renamed_option


@click.command("view")
@click.argument("directory", required=False, default="reports", type=click.Path(file_okay=False))
@click.option("--runs", "runs_dir", default="traces", show_default=True, type=click.Path(file_okay=False),
              help="Run directories to list on the index page.")
@click.option("--bind", "host", default="127.0.0.1", show_default=True, help="Address to bind.")
@renamed_option("--host", "--bind")
@click.option("--port", default=0, show_default=True, type=int, help="Port (0: a free one).")
@click.option("--public", is_flag=True, help="Allow binding a non-loopback address (the reports become reachable "
                                             "by anyone who can reach this machine).")
@click.option("--browser/--no-browser", default=True, show_default=True, help="Open the index in a browser.")
def view_command(directory: str, runs_dir: str, host: str, port: int, public: bool, browser: bool) -> None:
    """Serve DIRECTORY (default reports/) on 127.0.0.1 with an index of reports and run directories.

    Never serves a file outside DIRECTORY. Stop with Ctrl-C.
    """
    from ..render.server import is_loopback, make_server

    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    if not is_loopback(host) and not public:
        raise UsageError(f"--bind {host} is not a loopback address: add --public to bind it on purpose")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be in 0..65535")
    try:
        server = make_server(root, Path(runs_dir) if Path(runs_dir).is_dir() else None, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    url = f"http://{host if ':' not in host else '[' + host + ']'}:{server.server_address[1]}/"
    click.echo(f"serving {root.resolve()} at {url} (Ctrl-C to stop)", err=True)
    if browser:
        import webbrowser

        try:
            webbrowser.open(url)
        except webbrowser.Error:
            pass
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
