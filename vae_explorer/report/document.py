"""The report as one list of blocks: the title block, the summary, the settings, the curves, the
per-epoch figures, the results, the sweeps' sections and the figures of the best model (or of
every model). What each says comes from report.content; the figures from the view modules."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vae_explorer import __version__
from vae_explorer.core.config import ConfigError
from vae_explorer.core.runs import RunSummary
from vae_explorer.report import curves, epochs, model_views, sweep
from vae_explorer.report.blocks import Block, Heading, OwnFigure, PageBreak, Paragraph, Plot, Table, Title
from vae_explorer.report.content import (
    data_text,
    device_text,
    format_duration,
    num,
    one_or_each,
    result_tables,
    run_label,
    settings_tables,
    split_text,
    summary_paragraphs,
    training_seconds,
)
from vae_explorer.report.model_views import (
    COMPONENT_ROW_H,
    COMPONENT_SAMPLES,
    COMPONENT_SEED,
    ModelFigures,
    model_figures,
)
from vae_explorer.report.runs import ReportError, best_run, readable_runs, unreadable_text

COMPONENT_ROWS_PER_PLOT = 16  # more components continue in a further figure (page)


def model_blocks(m: ModelFigures, heading: str) -> list[Block]:
    blocks: list[Block] = [PageBreak(), Heading(heading)]
    blocks += [Paragraph(f"Note: {note}.") for note in m.notes]
    if m.generated is None:
        return blocks
    blocks.append(Plot(model_views.draw_real_generated(m), 3.5))
    if m.strip is not None:
        blocks.append(Plot(model_views.draw_strip(m), 1.35))
    if m.latents is not None:
        blocks.append(Plot(model_views.draw_map(m), 4.6))
    k = len(m.components)
    for start in range(0, k, COMPONENT_ROWS_PER_PLOT):
        stop = min(k, start + COMPONENT_ROWS_PER_PLOT)
        blocks += [
            PageBreak(),
            Heading(
                f"Mixture components of {run_label(m.run)}"
                + (f" ({start + 1}–{stop} of {k})" if k > stop - start else "")
            ),
        ]
        if start == 0:
            text = (
                f"Each row: {COMPONENT_SAMPLES} decoded samples z ~ N(mu_k, sigma_k^2) of one component "
                f"(seed {COMPONENT_SEED}), heaviest first, labelled with its index k and mixture weight w"
            )
            if m.pseudo_inputs:
                text += (
                    "; each row starts with the component's pseudo-input u_k (framed in red), its samples"
                    " being z ~ q(z|u_k)"
                )
            if m.run.evaluation is not None:
                text += (
                    "; from evaluation.json, the digit most of the test images it holds show and their share "
                    "of them (purity)."
                )
            else:
                text += ". Dominant digits and purities are missing: the run was not evaluated (no evaluation.json)."
            blocks.append(Paragraph(text))
        blocks.append(
            Plot(model_views.draw_components(m, start, stop), COMPONENT_ROW_H * (stop - start) + 0.1)
        )
    return blocks


def epoch_blocks(runs: Sequence[RunSummary], colours: Mapping[str, Any]) -> list[Block]:
    """The bound's parts and the mixture weights per epoch (report.epochs), after the curves;
    `colours`: each run's curve colour (curves.run_colours)."""
    blocks: list[Block] = []
    parts = epochs.parts_drawing(runs, colours)
    if parts is not None:
        blocks += [Heading("The bound's two parts per epoch"), Plot(*parts)]
    weights = epochs.weights_drawing(runs)
    if weights is not None:
        blocks += [Heading("Mixture weights per epoch"), Plot(*weights)]
    return blocks


def sweep_blocks(folder: Path) -> list[Block]:
    """The section of a sweep (report.sweep): its summary, curves by setting, comparison."""
    try:
        s = sweep.sweep_section(folder)
    except ConfigError as exc:
        raise ReportError(f"{folder}: {exc}") from None
    blocks: list[Block] = [Heading(s.title), Paragraph(s.intro), Table(s.header, s.rows, label_width=2.2)]
    if s.drawn:
        make = functools.partial(curves.sweep_curves_figure, s.drawn, s.spec)
        blocks.append(OwnFigure(make, 4.3, f"{s.title}: curves by setting", s.caption))
    blocks += [Heading(f"{s.title}: comparison, paired by seed (95% intervals)")]
    blocks += [Paragraph(line) for line in s.comparison + s.notes]
    return blocks


def build_document(
    runs: Sequence[RunSummary],
    all_runs: bool = False,
    now: float | None = None,
    sweeps: Sequence[Path] = (),
    accept_unchecked: bool = False,
    kept_colours: Mapping[str, str] | None = None,
) -> list[Block]:
    """The report's blocks; unreadable runs among `runs` are named in the summary and left out.
    `accept_unchecked`: draw the figures of checkpoints saved before the whole-content checksum.
    `kept_colours`: run key -> the colour the app shows the run in (core.colours), which its
    curves keep where no other run of the report has it."""
    runs, unreadable = readable_runs(runs)
    if not runs:
        problems = "; ".join(unreadable_text(r) for r in unreadable[:5])
        raise ReportError(
            "no runs to report" + (f": every run given is unreadable ({problems})" if problems else "")
        )
    now = time.time() if now is None else now
    total = sum(training_seconds(r) for r in runs)
    epochs = sum(r.epochs for r in runs)
    info = [
        ["date", time.strftime("%Y-%m-%d %H:%M", time.localtime(now))],
        ["app version", f"vae-explorer {__version__}"],
        ["runs", f"{len(runs)}: " + ", ".join(run_label(r) for r in runs)],
        ["data set", one_or_each(runs, lambda run: data_text(run.config))],
        ["split", one_or_each(runs, lambda run: split_text(run.config))],
        ["device", one_or_each(runs, device_text)],
        ["total training time", f"{format_duration(total)} over {epochs} epoch{'s' if epochs != 1 else ''}"],
    ]
    blocks: list[Block] = [
        Title("Training report", f"{len(runs)} run{'s' if len(runs) != 1 else ''} of vae-explorer"),
        Table(None, info, label_width=1.6, wide_values=True),
        Heading("Summary"),
        *(Paragraph(p) for p in summary_paragraphs(runs)),
        *(
            [
                Paragraph(
                    "Left out, since their files cannot be used: "
                    + "; ".join(map(unreadable_text, unreadable))
                    + "."
                )
            ]
            if unreadable
            else []
        ),
    ]
    for folder in sweeps:
        blocks += sweep_blocks(Path(folder))
    blocks.append(Heading("Settings"))
    if len(runs) > 1:
        blocks.append(Paragraph("Highlighted: the settings that differ between the runs.", small=True))
    blocks += settings_tables(runs)

    colours = curves.run_colours(runs, kept_colours)  # one per run, in every figure of runs
    maker = curves.curves_maker(runs, colours)
    blocks.append(PageBreak())
    if maker is not None:
        flat = [r.name for r in runs if not len(r.history)]
        caption = "Stars: the epoch of each run's lowest validation nll, whose model is its model.pt."
        if flat:
            caption += " No finished epoch, so no curve: " + ", ".join(flat) + "."
        blocks.append(OwnFigure(maker, 4.3, "Validation curves", caption))
    else:
        text = (
            "No run finished an epoch, so there are no curves."
            if not any(len(r.history) for r in runs)
            else "No curves: every validation nll recorded is too large or not a finite number to plot."
        )
        blocks += [Heading("Validation curves"), Paragraph(text)]
    blocks += epoch_blocks(runs, colours)  # the bound's parts and the mixture weights per epoch
    blocks.append(Heading("Results"))
    blocks += result_tables(runs)
    notes = [
        f"{r.name}: {note}"
        for r in runs
        if r.evaluation is not None
        for note in r.evaluation.get("notes", []) or []
    ]
    if notes:
        blocks.append(Paragraph("Evaluation notes. " + " ".join(notes), small=True))

    shown = [r for r in runs if r.checkpoint is not None] if all_runs else [best_run(runs)]
    shown = [r for r in shown if r is not None]
    if not shown:
        blocks += [
            Heading("Samples"),
            Paragraph(
                "No run has a model.pt, so there are no samples, components, interpolation or latent map."
            ),
        ]
    for run in shown:
        if all_runs:
            heading = f"Samples and latent space of {run_label(run)}"
        else:
            heading = (
                f"Samples and latent space of the best run, {run_label(run)}: validation nll "
                f"{num(run.best_val)} at epoch {run.best_epoch}"
            )
        blocks += model_blocks(model_figures(run, accept_unchecked), heading)
    return blocks
