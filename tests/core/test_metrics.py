"""The one table of metrics: how each is written and what its CSV columns hold."""

from __future__ import annotations

from vae_explorer.core.metrics import METRICS, csv_header, csv_row, metric, summary_line

RESULTS = {
    "neg_elbo": 90.1367,
    "iw_nll": 86.47507,
    "iw_nll_stderr": 0.24010,
    "iw_samples": 1000,
    "gap": 3.66,
    "fid": 29.96328,
    "fid_floor": 0.58499,
    "inception_score": 8.5929,
    "inception_score_std": 0.0601,
    "components_in_use": 16,
    "components": [{}] * 16,
    "active_units": 37,
    "latent_dim": 40,
}


def test_each_metric_is_written_one_way():
    assert metric("iw_nll").text(RESULTS) == "86.48 ± 0.24 (S=1,000)"
    assert metric("fid").text(RESULTS) == "30.0 (floor 0.6)"
    assert metric("inception_score").text(RESULTS) == "8.59 ± 0.06"
    assert metric("components_in_use").text(RESULTS) == "16 of 16"
    assert metric("active_units").text(RESULTS) == "37 of 40"
    assert metric("neg_elbo").text(RESULTS, with_unit=True) == "90.14 nats"
    assert metric("iw_nll").text({"neg_elbo": 90.0}) is None  # not computed
    assert summary_line(RESULTS).startswith("test neg ELBO=90.14, IW-NLL=86.48 ± 0.24 (S=1,000), gap=3.66")
    assert summary_line(RESULTS).endswith("components in use 16 of 16, active units 37 of 40")


def test_csv_rows_hold_numbers_with_units_in_the_header():
    header, row = csv_header(), csv_row(RESULTS)
    cells = dict(zip(header, row))
    assert cells["iw_nll (nats)"] == "86.47507" and cells["iw_nll_stderr (nats)"] == "0.2401"
    assert cells["iw_nll_samples"] == "1000" and cells["fid_floor"] == "0.58499"
    assert cells["components_in_use"] == "16" and cells["components_in_use_of"] == "16"
    assert cells["inception_score_sd"] == "0.0601" and cells["active_units_of"] == "40"
    for value in row:
        float(value)  # numbers only, never display strings
    assert csv_row({})[0] == "" and len(header) == len(set(header))
    assert [m.key for m in METRICS][:2] == ["neg_elbo", "iw_nll"]
