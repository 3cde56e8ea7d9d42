"""Every bad input of the three programs: one line on stderr naming what is wrong, exit code 2, no outputs.

The table runs the console entry points in this process (``main()`` with ``sys.argv``), which is what the installed
scripts call; a few cases also run as real processes, where "one line" and the exit code are the whole story.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from irlas_darts.app import eval_app, report_app, search_app

ROOT = Path(__file__).resolve().parents[2]
MAINS = {"irlas-search": search_app.main, "irlas-eval": eval_app.main, "irlas-report": report_app.main}
OUTPUTS = ("checkpoint.pt", "genotype.json", "genotype.txt", "metrics.json", "history.csv")
SEARCH = ["dataset=synthetic", "space=nb201", "logger.progress=false", "runtime.threads=1"]
EVAL = ["dataset=synthetic", "logger.progress=false", "runtime.threads=1", "eval.latency_batch=2"]
NB_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class Payload:
    """Unpickling this creates a marker file: what a hostile checkpoint or table would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def run_main(program: str, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run a console entry point in-process; returns (exit code, stderr)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    capsys.readouterr()
    try:
        if program == "irlas-report":
            MAINS[program](args)
        else:
            monkeypatch.setattr(sys, "argv", [program, *args])
            MAINS[program]()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    return code, capsys.readouterr().err


def assert_one_line(err: str, program: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{program}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Bad inputs of every kind, written once per test."""
    f: dict[str, Path] = {"marker": tmp_path / "pwned"}
    f["plain_file"] = tmp_path / "a_file"
    f["plain_file"].write_text("not a directory\n")
    f["long_text"] = tmp_path / "notes.txt"
    f["long_text"].write_text("first line of a text file that is no genotype at all, " + "x" * 40 + "SECRET" * 20)
    f["junk_ckpt"] = tmp_path / "junk" / "checkpoint.pt"
    f["junk_ckpt"].parent.mkdir()
    f["junk_ckpt"].write_bytes(os.urandom(300))
    f["evil_ckpt"] = tmp_path / "evil" / "checkpoint.pt"
    f["evil_ckpt"].parent.mkdir()
    torch.save({"epoch": 1, "weights": Payload(f["marker"])}, f["evil_ckpt"])
    f["raw_pickle_ckpt"] = tmp_path / "rawpickle" / "checkpoint.pt"
    f["raw_pickle_ckpt"].parent.mkdir()
    f["raw_pickle_ckpt"].write_bytes(pickle.dumps(Payload(f["marker"])))
    f["other_space_ckpt"] = tmp_path / "other" / "checkpoint.pt"
    f["other_space_ckpt"].parent.mkdir()
    torch.save({"epoch": 1, "run": {"app": "irlas-search", "space": "darts", "channels": 4, "layers": 3,
                                    "dataset": "synthetic", "regularizer": "irl", "expert": "resnext"}},
               f["other_space_ckpt"])
    f["unfit_ckpt"] = tmp_path / "unfit" / "checkpoint.pt"
    f["unfit_ckpt"].parent.mkdir()
    torch.save({"epoch": 1, "weights": {"stem.weight": torch.zeros(1)}}, f["unfit_ckpt"])
    f["pickle_table"] = tmp_path / "nb201.pkl"
    f["pickle_table"].write_bytes(pickle.dumps({"arch_str": [NB_ARCH], "x": Payload(f["marker"])}, protocol=4))
    f["nb_genotype"] = tmp_path / "nb.txt"
    f["nb_genotype"].write_text(NB_ARCH)
    f["bad_table"] = tmp_path / "bad.csv"
    f["bad_table"].write_text("name,loss\nfoo,1.0\n")
    f["one_row_table"] = tmp_path / "one_row.csv"  # the right columns, one cell of 15,625
    f["one_row_table"].write_text(f"arch_str,cifar10_valid_acc\n{NB_ARCH},90.0\n")
    f["idx_root"] = tmp_path / "mnist"
    f["idx_root"].mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (f["idx_root"] / name).write_bytes(b"not an idx file")
    f["empty_dir"] = tmp_path / "empty"
    f["empty_dir"].mkdir()
    return f


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")

# (program, arguments, words the line must hold). {name} is a path from `files`; {run} the run directory.
TABLE = [
    # unknown config groups, options and keys; wrong types; bad syntax
    ("irlas-search", ["space=nosuchspace"], ["space=nosuchspace", "darts, nb201"]),
    ("irlas-search", ["dataset=imagenet22k"], ["dataset", "digits"]),
    ("irlas-search", ["search=third_order"], ["search", "first_order"]),
    ("irlas-search", ["search.epochs=abc"], ["search.epochs=abc", "Integer"]),
    ("irlas-search", ["search.foo=1"], ["search.foo", "epochs"]),
    ("irlas-search", ["+search.foo=1", *SEARCH], ["search.foo", "epochs"]),
    ("irlas-search", ["nosuchkey=1"], ["nosuchkey", "space"]),
    ("irlas-search", ["search.epochs=[1"], ["search.epochs=[1"]),
    # out-of-range values
    ("irlas-search", [*SEARCH, "search.epochs=-1"], ["search.epochs=-1", ">= 1"]),
    ("irlas-search", [*SEARCH, "search.eval_bn=frozen"], ["search.eval_bn='frozen'", "batch, running"]),
    ("irlas-search", [*SEARCH, "regularizer.lambda=-1"], ["regularizer.lambda"]),
    ("irlas-search", [*SEARCH, "regularizer.guard_total=maybe"], ["regularizer.guard_total='maybe'", "false, true or derived"]),
    ("irlas-search", [*SEARCH, "seed=-1"], ["seed=-1"]),
    ("irlas-search", [*SEARCH, "runtime.threads=0"], ["runtime.threads=0"]),
    ("irlas-search", [*SEARCH, "dataset.limit=0"], ["dataset.limit=0"]),
    ("irlas-search", [*SEARCH, "dataset.weight_fraction=1.5"], ["dataset.weight_fraction"]),
    ("irlas-search", [*SEARCH, "dataset.shape=[3,8,8]"], ["dataset.shape", "[1, 8, 8]"]),
    ("irlas-search", [*SEARCH, "search.batch_size=1000"], ["search.batch_size=1000", "128 images"]),
    # devices
    ("irlas-search", [*SEARCH, "device=tpu"], ["device='tpu'", "auto, cpu, cuda"]),
    pytest.param("irlas-search", [*SEARCH, "device=cuda"], ["device=cuda", "no CUDA"], marks=NO_CUDA),
    # data files
    ("irlas-search", ["dataset=cifar10", "dataset.root={empty_dir}/nowhere"], ["nowhere", "data_batch_1",
                                                                              "dataset.root=<folder>"]),
    ("irlas-search", ["dataset=mnist", "dataset.root={idx_root}", "runtime.threads=1"], ["mnist"]),
    # output directory
    ("irlas-search", [*SEARCH, "hydra.run.dir={plain_file}/run"], ["a_file", "hydra.run.dir"]),
    # benchmark tables, all refused before the search
    ("irlas-search", [*SEARCH, "space=darts", "benchmark.table={bad_table}"], ["benchmark.table", "space=nb201"]),
    ("irlas-search", [*SEARCH, "benchmark.table={empty_dir}/none.csv"], ["none.csv", "no such benchmark table"]),
    ("irlas-search", [*SEARCH, "benchmark.table={bad_table}"], ["bad.csv", "arch column"]),
    ("irlas-search", [*SEARCH, "benchmark.table={pickle_table}"], ["nb201.pkl", "benchmark.allow_pickle=true", "CSV"]),
    ("irlas-search", [*SEARCH, "benchmark.table={one_row_table}"], ["one_row.csv", "covers 1 of the 15,625",
                                                                     "15,624 missing"]),
    # NATS-Bench files: missing, a pickle without the opt-in, the wrong space
    ("irlas-search", [*SEARCH, "benchmark.nats={empty_dir}/nats.pbz2", "benchmark.allow_pickle=true"],
     ["nats.pbz2", "no such NATS-Bench file"]),
    ("irlas-search", [*SEARCH, "benchmark.nats={pickle_table}"], ["nb201.pkl", "benchmark.allow_pickle=true"]),
    ("irlas-search", [*SEARCH, "space=darts", "benchmark.nats={pickle_table}"], ["benchmark.nats", "space=nb201"]),
    # a custom expert that is not a cell of the space
    ("irlas-search", [*SEARCH, "space=darts", """expert.darts=['Genotype(normal=[("sep_conv_3x3", 9)])']"""],
     ["expert.darts[0]", "not a darts cell", "expert=resnext"]),
    ("irlas-search", [*SEARCH, "expert.nb201=['|nor_conv_3x3~0|+|sep_conv_3x3~0|none~1|']"],
     ["expert.nb201[0]", "expert=resnext"]),
    # resume=true with checkpoints that are corrupt, hostile or of another run
    ("irlas-search", [*SEARCH, "resume=true", "hydra.run.dir={junk_ckpt.parent}"], ["checkpoint.pt", "not a readable"]),
    ("irlas-search", [*SEARCH, "resume=true", "hydra.run.dir={evil_ckpt.parent}"], ["checkpoint.pt", "refused"]),
    ("irlas-search", [*SEARCH, "resume=true", "hydra.run.dir={raw_pickle_ckpt.parent}"], ["checkpoint.pt"]),
    ("irlas-search", [*SEARCH, "resume=true", "hydra.run.dir={other_space_ckpt.parent}"], ["space 'darts'", "'nb201'"]),
    ("irlas-search", [*SEARCH, "resume=true", "hydra.run.dir={unfit_ckpt.parent}"], ["does not fit"]),
    # irlas-eval
    ("irlas-eval", ["genotype={long_text}"], ["notes.txt", "not a genotype file", "first line"]),
    ("irlas-eval", ["genotype=nope"], ["genotype=nope", "DARTS_V2"]),
    ("irlas-eval", ["genotype={empty_dir}"], ["genotype=", "DARTS_V2"]),
    ("irlas-eval", ["eval=nosuch"], ["eval=nosuch", "cifar10"]),
    ("irlas-eval", ["eval.epochs=abc"], ["eval.epochs=abc"]),
    ("irlas-eval", ["eval.foo=1"], ["eval.foo", "epochs"]),
    ("irlas-eval", ["+space.name=darts"], ["space", "genotype"]),
    ("irlas-eval", [*EVAL, "eval.epochs=-1"], ["eval.epochs=-1"]),
    ("irlas-eval", [*EVAL, "device=tpu"], ["device='tpu'"]),
    pytest.param("irlas-eval", [*EVAL, "device=cuda"], ["device=cuda", "no CUDA"], marks=NO_CUDA),
    ("irlas-eval", [*EVAL, "runtime.threads=0"], ["runtime.threads=0"]),
    ("irlas-eval", [*EVAL, "dataset.limit=0"], ["dataset.limit=0"]),
    ("irlas-eval", [*EVAL, "dataset.weight_fraction=0.3"], ["dataset.weight_fraction", "irlas-search"]),
    ("irlas-eval", [*EVAL, "eval.batch_size=1000"], ["eval.batch_size=1000", "256 images"]),
    ("irlas-eval", ["dataset=cifar10", "dataset.root={empty_dir}/nowhere", "eval.epochs=1"],
     ["nowhere", "dataset.root=<folder>"]),
    ("irlas-eval", [*EVAL, "hydra.run.dir={plain_file}/run"], ["a_file"]),
    ("irlas-eval", [*EVAL, "genotype=DARTS_V2", "benchmark.table={bad_table}"], ["benchmark.table", "DARTS"]),
    ("irlas-eval", [*EVAL, "genotype={nb_genotype}", "benchmark.table={pickle_table}"], ["allow_pickle"]),
    ("irlas-eval", [*EVAL, "genotype={nb_genotype}", "benchmark.table={one_row_table}"], ["covers 1 of the 15,625"]),
    ("irlas-eval", [*EVAL, "genotype=DARTS_V2", "benchmark.nats={pickle_table}"], ["benchmark.nats", "DARTS"]),
    ("irlas-eval", [*EVAL, "resume=true", "hydra.run.dir={evil_ckpt.parent}"], ["checkpoint.pt", "refused"]),
    ("irlas-eval", [*EVAL, "resume=true", "hydra.run.dir={junk_ckpt.parent}"], ["checkpoint.pt", "not a readable"]),
    ("irlas-eval", [*EVAL, "resume=true", "hydra.run.dir={other_space_ckpt.parent}"], ["irlas-search"]),
    # irlas-report
    ("irlas-report", ["{empty_dir}/nowhere"], ["nowhere", "does not exist"]),
    ("irlas-report", ["{empty_dir}"], ["empty", "no job"]),
    ("irlas-report", ["{plain_file}"], ["a_file"]),
]


def _fill(arg: str, files: dict[str, Path]) -> str:
    return arg.format(**files) if "{" in arg else arg


@pytest.mark.parametrize("program, args, needles", TABLE)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(program, args, needles, files, tmp_path, monkeypatch,
                                                         capsys):
    args = [_fill(a, files) for a in args]
    run = tmp_path / "run"
    if program != "irlas-report" and not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"hydra.run.dir={run}")
    run_dirs = [Path(a.split("=", 1)[1]) for a in args if a.startswith("hydra.run.dir=")]
    before = {d: {p.name: p.stat().st_mtime_ns for p in d.iterdir()} if d.is_dir() else {} for d in run_dirs}
    code, err = run_main(program, args, monkeypatch, capsys)
    assert code == 2, err
    assert_one_line(err, program, *[_fill(n, files) for n in needles])
    assert "Traceback" not in err
    for d in run_dirs:  # no output appeared or changed (a given checkpoint stays as it was)
        after = {p.name: p.stat().st_mtime_ns for p in d.iterdir()} if d.is_dir() else {}
        assert {k: v for k, v in after.items() if k in OUTPUTS} == {k: v for k, v in before[d].items() if k in OUTPUTS}
    assert not files["marker"].exists(), "a crafted file ran code on load"


@pytest.mark.parametrize("program, args", [
    ("irlas-search", [*SEARCH, "search.epochs=-1"]),  # a rejected override
    ("irlas-search", [*SEARCH, "benchmark.table={one_row_table}"]),  # found after Hydra made the run directory
    ("irlas-search", ["dataset=cifar10", "dataset.root={empty_dir}/nowhere"]),
    ("irlas-eval", [*EVAL, "eval.epochs=-1"]),
])
def test_a_rejected_run_leaves_no_run_directory(program, args, files, tmp_path, monkeypatch, capsys):
    run = tmp_path / "runs" / "a"
    code, err = run_main(program, [*[_fill(a, files) for a in args], f"hydra.run.dir={run}"], monkeypatch, capsys)
    assert code == 2, err
    assert not run.exists(), sorted(p.name for p in run.iterdir())


def test_a_rejected_resume_keeps_the_directory_it_found(files, tmp_path, monkeypatch, capsys):
    run = files["junk_ckpt"].parent
    (run / "irlas-search.log").write_text("the earlier run's log\n")
    code, err = run_main("irlas-search", [*SEARCH, "search.epochs=-1", f"hydra.run.dir={run}"], monkeypatch, capsys)
    assert code == 2, err
    assert (run / "checkpoint.pt").is_file() and (run / "irlas-search.log").read_text() == "the earlier run's log\n"


def test_a_genotype_file_is_quoted_at_most_80_characters(files, tmp_path, monkeypatch, capsys):
    code, err = run_main("irlas-eval", [f"genotype={files['long_text']}", f"hydra.run.dir={tmp_path}"], monkeypatch,
                         capsys)
    assert code == 2 and "SECRET" not in err
    quoted = err.split("starts with ", 1)[1].split("); give", 1)[0]
    assert len(eval(quoted)) <= 80  # noqa: S307 - the repr of a str we wrote


@pytest.mark.parametrize("program, args", [
    ("irlas-search", [*SEARCH, "search.epochs=1", "search.lr=1e30"]),
    ("irlas-eval", [*EVAL, "eval.epochs=1", "eval.lr=1e30", "genotype=DARTS_V2"]),
])
def test_non_finite_loss_stops_with_one_line_and_exit_3(program, args, tmp_path, monkeypatch, capsys):
    code, err = run_main(program, [*args, f"hydra.run.dir={tmp_path}"], monkeypatch, capsys)
    assert code == 3, err
    assert_one_line(err, program, "non-finite", "lr")
    assert not (tmp_path / "metrics.json").exists()


def _subprocess(program: str, *args: str, full_error: bool = False) -> subprocess.CompletedProcess:
    module = {"irlas-search": "irlas_darts", "irlas-eval": "irlas_darts.app.eval_app"}[program]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WANDB_MODE="disabled")
    env.pop("HYDRA_FULL_ERROR", None)
    if full_error:
        env["HYDRA_FULL_ERROR"] = "1"
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("program, args", [
    ("irlas-search", ["space=nosuchspace"]),  # Hydra's error, wrapped
    ("irlas-eval", ["device=tpu", "eval.epochs=0"]),  # ours
])
def test_a_real_process_prints_one_line_and_hydra_full_error_gives_the_trace(program, args, tmp_path):
    with ThreadPoolExecutor(2) as pool:  # the two processes side by side: each is mostly its imports
        plain = pool.submit(_subprocess, program, *args, f"hydra.run.dir={tmp_path / 'run'}")
        full = pool.submit(_subprocess, program, *args, f"hydra.run.dir={tmp_path / 'run'}", full_error=True)
        res, full = plain.result(), full.result()
    assert res.returncode == 2, res.stderr
    assert_one_line(res.stderr, program)
    assert full.returncode != 0 and "Traceback (most recent call last)" in full.stderr
