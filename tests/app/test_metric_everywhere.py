"""A metric added to core's table (core.metrics.METRICS) and computed in core (core.evaluation)
appears, with no other change, in `evaluate`'s table and JSON, in the report and in the
Evaluation tab."""

from __future__ import annotations

import json
import math

import pytest
from apphelpers import answer_messages, open_and_show

from vae_explorer.cli import main
from vae_explorer.core import evaluation as core_evaluation
from vae_explorer.core.metrics import METRICS, Metric

DUMMY = Metric("dummy_score", "dummy score", "nats", 3, True, short="dummy")


def dummy_value(results: dict) -> float:
    """What the dummy metric computes: something of the model, so each evaluation has its own."""
    return round(results["neg_elbo"] / 7.0, 6)


@pytest.fixture
def dummy_metric(monkeypatch):
    """The change a new metric makes in core: a row in the table, and its value in the results."""
    real = core_evaluation.evaluate

    def evaluate(*args, **kwargs):
        results = real(*args, **kwargs)
        return {**results, "dummy_score": dummy_value(results)}

    monkeypatch.setattr(core_evaluation, "evaluate", evaluate)
    METRICS.append(DUMMY)
    yield DUMMY
    METRICS.remove(DUMMY)


def test_a_new_metric_reaches_the_cli_the_json_and_the_report(dummy_metric, checkpoint, tmp_path, capsys):
    args = ["evaluate", str(checkpoint), "--limit-test", "50", "--iw-samples", "5"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    value = results["dummy_score"]
    assert math.isclose(value, dummy_value(results))
    line = next(line for line in table.splitlines() if line.startswith("dummy score (nats)"))
    assert line.split()[-1] == f"{value:,.3f}"

    # the run folder's evaluation.json, as the end of a run writes it, read by the report
    (checkpoint.parent / "evaluation.json").write_text(json.dumps(results))
    html = tmp_path / "report.html"
    assert main(["report", str(checkpoint.parent), "--out", str(html)]) == 0
    text = html.read_text()
    assert "dummy score (nats)" in text and f"{value:,.3f}" in text


def test_a_new_metric_is_a_column_of_the_evaluation_tab(dummy_metric, window, qtbot, checkpoint, monkeypatch):
    answer_messages(monkeypatch)
    panel = window.evaluation
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    panel.iw_samples.setValue(5)
    panel.fid.setChecked(False)
    panel.inception.setChecked(False)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: len(panel.rows) == 1, timeout=60_000)
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    column = headers.index("dummy\n(nats)")
    value = panel.rows[0].results["dummy_score"]
    assert panel.table.item(0, column).text() == f"{value:,.3f}"
