"""The report of many runs (issue 23, item 9): the curves' legend stays on its page and names the
best runs, and every curve has a colour of its own."""

from __future__ import annotations

import csv

from vae_explorer.core.config import RunConfig, TrainConfig


def _runs(root, n: int) -> list:
    folders = []
    for i in range(n):
        folder = root / f"run{i:03d}"
        folder.mkdir(parents=True)
        config = RunConfig(train=TrainConfig(lr=1e-4 * (1 + i)))
        (folder / "config.json").write_text(config.to_json() + "\n")
        with open(folder / "metrics.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["epoch", "train_loss", "val_nll", "seconds"])
            for epoch in range(1, 4):
                writer.writerow([epoch, 200 - epoch - i * 0.1, 190 - epoch - i * 0.1, 1.0])
        folders.append(folder)
    return folders


def test_the_curves_of_200_runs_keep_their_legend_on_the_page(tmp_path):
    from vae_explorer.report import collect_runs, curves_maker

    runs = collect_runs(_runs(tmp_path, 200))
    fig = curves_maker(runs)()
    fig.canvas.draw()
    legend = fig.axes[0].get_legend()
    box, page = legend.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    texts = [t.get_text() for t in legend.get_texts()]
    assert any("199 more" in t or "more runs" in t for t in texts), texts
    # the runs named are the best ones (the later runs here reach the lower nll)
    assert any("run199" in t for t in texts) and not any("run000" in t for t in texts)
    solid = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 200
    assert (
        len(
            {
                tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color()
                for line in solid
            }
        )
        == 200
    )
