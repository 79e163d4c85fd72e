"""``bambaprof variants``: the SSD core variants and whether they run here."""

from __future__ import annotations

import click

from ..render.columns import VARIANTS
from ..render.tables import render_rows
from ..ssm import list_variants
from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu, needs_text, runnable
from ..ssm.registry import PLUGIN_ERRORS
from ._common import device_option, emit, format_option, output_option, resolve_device


def variant_rows(device: str) -> list:
    rows = []
    for v in list_variants():
        run = runnable(v, device)
        rows.append(
            dict(
                name=v.name,
                kind="exact" if v.exact else "approximate",
                needs=needs_text(v),
                decode_step=v.step is not None,
                runs_here=run.ok,
                how=run.how,
                origin=v.origin,
                summary=v.summary,
            )
        )
    return rows




@click.command("variants")
@format_option(("table", "json", "csv"))
@output_option()
@device_option()
def variants_command(fmt: str, output: str, device: str) -> None:
    """List the SSD core variants: exact or approximate, what each needs, and whether it runs here."""
    enable_triton_interpreter_if_no_gpu()
    dev = resolve_device(device)
    rows = variant_rows(dev)
    meta = {"device": dev, "plugin_errors": dict(PLUGIN_ERRORS)}
    emit(render_rows(rows, fmt, VARIANTS, meta=meta), output)
    for name, why in PLUGIN_ERRORS.items():
        click.echo(f"warning: plug-in variant {name!r}: {why}", err=True)
