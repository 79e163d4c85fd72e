"""``bambaprof accuracy``: each SSD variant's effect on the model's outputs, against the exact recurrence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from ..render.columns import ACCURACY
from ..render.tables import render_rows
from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu
from ._common import (
    check_scan_env,
    config_from_options,
    device_option,
    emit,
    format_option,
    model_options,
    output_option,
    progress,
    resolve_device,
)

if TYPE_CHECKING:
    from ..model.config import BambaConfig


@click.command("accuracy")
@model_options
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
              help="A local HF-format Bamba checkpoint instead of seeded weights.")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Variant to measure (repeatable). Default: every variant that runs here except reference.")
@click.option("--seq-len", "seq_lens", multiple=True, type=int, help="Prompt length (repeatable; seeded random tokens).")
@click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False), default=None,
              help="JSON file of prompts (lengths or token ids), as for profile.")
@click.option("--batch", type=int, default=1, show_default=True, help="Prompts per length.")
@click.option("--new-tokens", type=int, default=16, show_default=True, help="Greedy tokens compared.")
@click.option("--reference-dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True,
              help="Precision of the reference run.")
@click.option("--text", "text_file", type=click.Path(dir_okay=False), default=None,
              help="A text file for perplexity (needs a --checkpoint with a tokenizer).")
@click.option("--attach", "attach", multiple=True, type=click.Path(file_okay=False),
              help="Run directory to attach the results to (repeatable), so reports show them.")
@device_option()
@click.option("--seed", type=int, default=0, show_default=True)
@format_option(("table", "json", "csv"))
@output_option()
def accuracy_command(preset_name, layers, no_attention, chunk_size, dtype, checkpoint, variants, seq_lens,
                     prompts_file, batch, new_tokens, reference_dtype, text_file, attach, device, seed, fmt,
                     output) -> None:
    """Measure each variant against the exact recurrence on the same weights and prompts.

    KL divergence of next-token distributions, top-1 agreement, and greedy
    generation agreement with and without the cache; rows by prompt length
    and number of chunks show how the independent approximation grows.
    """
    check_scan_env()
    enable_triton_interpreter_if_no_gpu()
    import torch

    from ..collect.workloads import load_prompts
    from ..model import build_model
    from ..model.accuracy import measure_accuracy, perplexity
    from ..model.config import parse_dtype
    from ..ssm import get_variant, list_variants
    from ..ssm.capabilities import runnable

    dev = resolve_device(device)
    if batch <= 0 or new_tokens < 0 or any(L <= 0 for L in seq_lens):
        raise UsageError("--batch and --seq-len must be positive, --new-tokens not negative")
    loaded = load_prompts(prompts_file) if prompts_file else []
    lengths = [p["length"] for p in loaded] + list(seq_lens or ((64,) if not prompts_file else ()))
    if checkpoint:
        from ..model.checkpoint import load_checkpoint

        model, cfg, tokenizer = load_checkpoint(checkpoint, "default", dev, dtype)
        _require_room(cfg, batch, max(lengths, default=1) + new_tokens, dev, weights=False)
    else:
        cfg = config_from_options(preset_name, layers, no_attention, chunk_size, dtype)
        _require_room(cfg, batch, max(lengths, default=1) + new_tokens, dev, weights=True)
        model, tokenizer = build_model(cfg, "default", seed, dev), None
    names = list(variants) or [v.name for v in list_variants() if v.name != "reference" and runnable(v, dev).ok]
    for n in names:
        get_variant(n)
    gen = torch.Generator().manual_seed(seed + 7)
    prompts = []
    for p in loaded:
        if p["token_ids"] and not all(0 <= t < cfg.vocab_size for t in p["token_ids"]):
            raise UsageError(f"--prompts {prompts_file}: prompt {p['name']!r} has token ids outside the "
                             f"vocabulary (0 to {cfg.vocab_size - 1})")
        ids = (torch.tensor([p["token_ids"]] * batch) if p["token_ids"]
               else torch.randint(0, cfg.vocab_size, (batch, p["length"]), generator=gen))
        prompts.append({"name": p["name"], "ids": ids.to(dev)})
    for L in seq_lens or ((64,) if not prompts_file else ()):
        prompts.append({"name": f"random-{L}", "ids": torch.randint(0, cfg.vocab_size, (batch, L), generator=gen).to(dev)})
    with progress("accuracy", len(names) * len(prompts)) as bar:
        rows = [r.to_dict() for r in measure_accuracy(model, names, prompts, new_tokens, parse_dtype(reference_dtype),
                                                      progress=lambda _l: bar.update(1))]
    if text_file:
        if tokenizer is None:
            raise UsageError("--text needs a --checkpoint whose directory has a tokenizer (and transformers installed)")
        try:
            tokens = tokenizer(Path(text_file).read_text())["input_ids"]
        except OSError as exc:
            raise UsageError(f"--text {text_file}: cannot read ({exc.strerror or exc})") from None
        for name in ["reference", *names]:
            model.set_variant(name)
            ppl = perplexity(model, tokens, cfg.mamba_chunk_size * 8, dev)
            for r in rows:
                if r["variant"] == name:
                    r["perplexity"] = ppl
            if name == "reference":
                for r in rows:
                    r["reference_perplexity"] = ppl
    for run_dir in attach:
        _attach(Path(run_dir), rows)
    meta = {"device": dev, "reference_dtype": reference_dtype, "checkpoint": checkpoint,
            "preset": None if checkpoint else preset_name, "seed": seed}
    emit(render_rows(rows, fmt, ACCURACY, meta=meta), output)


def _attach(run_dir: Path, rows: list) -> None:
    """Put the rows into a run directory's manifest (rewritten atomically through the run record)."""
    from ..run import AccuracyRow, is_run_dir, update_manifest

    if not is_run_dir(run_dir):
        raise UsageError(f"--attach {run_dir}: not a run directory (no manifest)")
    attached = [AccuracyRow(**row) for row in rows]

    def attach(manifest) -> None:
        manifest.accuracy = attached

    update_manifest(run_dir, attach)


def _require_room(cfg: "BambaConfig", batch: int, tokens: int, device: str, weights: bool) -> None:
    """Refuse, before anything is built, prompts (and a model) whose lower-bound footprint exceeds the memory
    available: the weights unless already loaded, and the hidden states of ``batch`` x ``tokens``
    (:mod:`bambaprof.collect.footprint`)."""
    from .._memory import gigabytes, require_bytes
    from ..collect.footprint import estimate

    need = estimate(cfg, "prefill", {}, batch, tokens)
    what = f"the model and {batch} x {tokens} tokens" if weights else f"{batch} x {tokens} tokens"
    require_bytes(need.total if weights else need.activations, device,
                  f"{what} (weights {gigabytes(need.weights)}, hidden states {gigabytes(need.activations)})")
