"""``avemotion train --recipe paper``: the paper's set-up, what the user replaced, the cost of an epoch.

The run is real (one epoch on the small generated dataset, with the crop size and batch replaced
so it takes seconds); what the optimizer actually used is read back from the training checkpoint.
"""

from __future__ import annotations

import json
import re

import pytest
from cli_support import ROOT, dataset, run_cli

from avemotion_core.cli import recipes
from avemotion_core.train.checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return dataset(tmp_path_factory)


def test_recipe_paper_trains_with_the_papers_settings_and_reports_what_you_replaced(data, tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("lr: 0.01\n")
    out, runs = tmp_path / "model", tmp_path / "runs"
    proc = run_cli("train", data, "--recipe", "paper", "--config", cfg, "--epochs", "1", "--image-size", "64",
                   "--batch-size", "2", "--val-actors", "2", "--test-actors", "3", "--workers", "0",
                   "--out", out, "--run-dir", runs, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    starts = ("recipe paper: fusion", "recipe paper: replaced", "expected time")
    kept, replaced, timing = (next(line for line in lines if line.startswith(s)) for s in starts)
    for fragment in ("fusion ia", "mod-drop zerodrop", "lr-steps 40,55,65,70,200,250", "momentum 0.9",
                     "dampening 0.9", "weight-decay 0.001", "split actor"):
        assert fragment in kept, (fragment, kept)
    for fragment in ("--lr 0.01 (recipe: 0.04)", "--epochs 1 (recipe: 100)", "--batch-size 2 (recipe: 8)",
                     "--image-size 64 (recipe: 224)", "--val-actors 2 (recipe: 11,13,18,22)",
                     "--test-actors 3 (recipe: 5,10,16,19)"):
        assert fragment in replaced, (fragment, replaced)
    minutes = recipes.PAPER_TRAIN_CLIPS / recipes.CPU_SAMPLES_PER_S["ia"] * recipes.CHECKPOINT_SLOWDOWN / 60
    assert f"CPU about {minutes:.0f} min" in timing and "BENCHMARKS.md" in timing, timing
    assert "you train at 64 px, batch 2" in timing
    assert "epoch 1/1 train loss" in proc.stdout
    group = read_checkpoint(runs / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0]
    used = (group["lr"], group["momentum"], group["dampening"], group["weight_decay"])
    assert used == (0.01, 0.9, 0.9, 1e-3)
    assert json.loads((out / "metadata.json").read_text())["mod_drop"] == "zerodrop"


def test_recipe_paper_refuses_a_dataset_without_the_papers_actors_before_preprocessing(data, tmp_path):
    cache = tmp_path / "cache"
    # one short epoch, so that a recipe that failed to set the split ends quickly (and then fails here)
    proc = run_cli("train", data, "--recipe", "paper", "--cache-dir", cache, "--epochs", "1",
                   "--batch-size", "2", "--workers", "0", "--out", tmp_path / "m",
                   "--run-dir", tmp_path / "runs", "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"actors \[.*\] not in the dataset \(actors: \[1, 2, 3\]\)", proc.stderr), proc.stderr
    assert not cache.exists()  # nothing was preprocessed


def test_recipe_figures_are_the_ones_in_benchmarks_md():
    text = (ROOT / "BENCHMARKS.md").read_text()
    cpu = text[text.index("## Training throughput on CPU"):]
    for fusion, rate in recipes.CPU_SAMPLES_PER_S.items():
        assert re.search(rf"^\| {fusion} \| {rate} \|", cpu, re.M), (fusion, rate)
    memory = text[text.index("## Training memory"):]
    assert f"{recipes.CHECKPOINT_SLOWDOWN}×" in memory
