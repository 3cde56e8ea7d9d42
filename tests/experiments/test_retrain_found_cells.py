"""experiments/retrain_found_cells.py: every recorded cell trained again at training seed ``search seed + 100 k``,
its runs averaged with the recorded one, and the arm's mean over search seeds of those averages (no training here:
``train`` is replaced by a table of accuracies)."""

from __future__ import annotations

import json
import sys

import pytest

G = {"none": "Genotype(normal=[('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), "
                 "('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1)], "
                 "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                 "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                 "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"}
G["irl"] = G["none"].replace("skip_connect", "sep_conv_3x3", 2)


def test_each_cell_is_trained_at_the_replicates_seeds_and_averaged_with_its_recorded_run(script, tmp_path, monkeypatch,
                                                                                          capsys):
    retrain = script("retrain_found_cells")
    found = {arm: {str(s): {"genotype": G[arm], "test_acc": 80.0 + s} for s in (0, 1)} for arm in ("none", "irl")}
    found["irl"]["1"]["test_acc"] = 90.0
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"darts_train": found}))
    calls = []

    def fake_train(genotype_text, seed, run_dir):
        calls.append((genotype_text, seed, run_dir.relative_to(tmp_path).as_posix()))
        if genotype_text == G["none"] and seed == 201:
            return None  # a failed training run is left out of its cell's mean
        return 70.0 + seed % 100 + (5.0 if genotype_text == G["irl"] else 0.0) + (1.0 if seed >= 200 else 0.0)

    monkeypatch.setattr(retrain, "train", fake_train)
    monkeypatch.setattr(sys, "argv", ["retrain_found_cells.py", "--results", str(results), "--replicates", "2",
                                      "--workers", "2", "--out", str(tmp_path / "runs")])
    retrain.main()
    assert sorted(calls) == sorted(
        (G[arm], s + 100 * k, f"runs/{arm}/seed{s}/train{s + 100 * k}")
        for arm in ("none", "irl") for s in (0, 1) for k in (1, 2))
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()[2:]}
    # none: seed 0 runs 80, 70, 71 -> 73.67; seed 1 runs 81, 71 (201 failed) -> 76.00; mean 74.83, worst 73.67
    assert "73.67 (80.00 / 70.00 / 71.00)" in rows["none"] and "76.00 (81.00 / 71.00)" in rows["none"]
    assert rows["none"].endswith(f"| {(73 + 2 / 3 + 76) / 2:.2f} ± {abs(76 - 73 - 2 / 3) / 2 ** 0.5:.2f} | 73.67 |")
    # irl: seed 0 runs 80, 75, 76 -> 77.00; seed 1 runs 90, 76, 77 -> 81.00
    assert "77.00 (80.00 / 75.00 / 76.00)" in rows["irl"] and rows["irl"].endswith("| 79.00 ± 2.83 | 77.00 |")


def test_the_written_genotype_is_the_recorded_one(script, tmp_path, monkeypatch):
    """What ``irlas-eval`` is given is the recorded cell, as JSON it reads back equal."""
    retrain = script("retrain_found_cells")
    from irlas_darts.spaces import genotype_from_json, genotype_from_text

    seen = {}

    def fake_run(cmd, **kwargs):
        path = next(a.split("=", 1)[1] for a in cmd if a.startswith("genotype="))
        seen["genotype"] = genotype_from_json(json.loads(open(path).read()))
        seen["seed"] = next(a for a in cmd if a.startswith("seed="))
        run_dir = next(a.split("=", 1)[1] for a in cmd if a.startswith("hydra.run.dir="))
        (tmp_path / "run" / "metrics.json").write_text(json.dumps({"test_acc": 0.7884}))
        assert run_dir == str(tmp_path / "run")
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(retrain.subprocess, "run", fake_run)
    assert retrain.train(G["irl"], 102, tmp_path / "run") == pytest.approx(78.84)
    assert seen == {"genotype": genotype_from_text(G["irl"]), "seed": "seed=102"}
