"""``mosaic experiment RUN.yaml --out DIR``: the article's comparison as one reproducible, resumable matrix.

A *cell* of the matrix is one dataset × strategy × label fraction × seed. Each cell is pre-trained once by
``mosaic train`` with the strategy's config, the dataset's settings and the experiment's ``protocol`` (the same for
every strategy, :mod:`.training.protocol`), then evaluated in each evaluation mode:

* ``joint``: the pre-training itself (its own classifier: the online probe or MoSAiC's jointly trained one);
* ``linear_probe`` / ``finetune``: a second ``mosaic train`` run with ``model.stage`` set, starting from the
  encoders of the pre-training's ``last.ckpt`` (frozen encoders + one linear layer, or the encoders at a lower
  learning rate with a fresh fusion MLP and classifier), with the ``evaluation.protocol`` settings over the protocol
  (the label fraction and seed never change).

Every pre-training runs the same budget (``protocol.epochs``; early stopping acts on the evaluation stages only),
and a strategy or dataset cannot change the budget (``trainer.*``, ``early_stopping.*``, ``checkpoint.*``: only
the experiment's ``overrides`` may). Every trained model is scored by ``mosaic evaluate`` (its best checkpoint by
validation macro AP) on the test split: F1 at 0.5 in the tables, F1 at thresholds tuned on validation in
``results.csv`` too. Runs go through the real commands: in this process, or as
``python -m mosaic.backend.cli train`` subprocesses when the trainer options ask for several devices or nodes
(Lightning then launches its DDP processes as for any ``mosaic train``).

Layout of ``DIR``: ``runs/<dataset>/<strategy>/lf<fraction>/seed<seed>/<stage>/`` holding ``checkpoints/`` (with
``training_record.json``: the labelled patches and images each run saw), ``trained.json`` (written when the
training finished), ``evaluation/`` (``metrics.json``, ``report.md``) and ``done.json`` (written last: the cell's
row). A finished stage is skipped when the command is run again; a killed one resumes from its newest checkpoint.
The tables (``results.csv``, ``results.md``, ``results_ap_macro.png``, :mod:`.tables`) are rewritten
after every cell from the ``done.json`` files, so several ``--shard K/N`` processes may share one ``DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..errors import ConfigError, InputError, MosaicError

EVAL_MODES: tuple[str, ...] = ("joint", "linear_probe", "finetune")
_KEYS = {
    "title",
    "strategies",
    "datasets",
    "label_fractions",
    "seeds",
    "eval_modes",
    "protocol",
    "evaluation",
    "overrides",
    "evaluate",
    "launch",
}
#: Protocol keys that define which patches a cell sees: set by the matrix, never by its evaluation stages.
_CELL_KEYS = {"label_fraction", "seed", "unlabelled", "validation_labels"}
#: Config sections that set the training budget, its stopping and its checkpoints: the same for every run, so only
#: the experiment's ``overrides`` / ``evaluation.overrides`` may set them, never a strategy or a dataset.
BUDGET_SECTIONS = ("trainer", "early_stopping", "checkpoint")
#: Trainer keys a strategy's or dataset's config file may set (what it logs and shows, not what it trains).
_COSMETIC_TRAINER_KEYS = {"logger", "log_every_n_steps", "enable_progress_bar", "enable_model_summary"}


@dataclass(frozen=True)
class Entry:
    """A strategy or dataset of the matrix: its name in the tables, an optional config file, key → value overrides."""

    name: str
    config: Path | None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The entry's folder name: its name with everything but letters, digits, ``.``, ``-`` turned into ``_``."""
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.name).strip("_") or "_"


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file (see ``docs/experiments.md`` and ``experiments/*.yaml``)."""

    path: Path
    title: str
    strategies: list[Entry]
    datasets: list[Entry]
    label_fractions: list[float | None]
    seeds: list[int]
    eval_modes: list[str]
    protocol: dict[str, Any]
    evaluation: dict[str, dict[str, Any]]
    overrides: dict[str, Any]
    evaluate: dict[str, Any]
    launch: str

    def cells(self) -> list[Cell]:
        """Every cell, in table order: dataset, strategy, label fraction, seed."""
        return [
            Cell(d, s, f, seed)
            for d in self.datasets
            for s in self.strategies
            for f in self.label_fractions
            for seed in self.seeds
        ]


@dataclass(frozen=True)
class Cell:
    """One pre-training and its evaluations."""

    dataset: Entry
    strategy: Entry
    label_fraction: float | None
    seed: int

    def folder(self, out: Path) -> Path:
        fraction = "all" if self.label_fraction is None else f"{self.label_fraction:g}"
        return out / "runs" / self.dataset.slug / self.strategy.slug / f"lf{fraction}" / f"seed{self.seed}"

    def describe(self) -> str:
        fraction = "all labels" if self.label_fraction is None else f"{self.label_fraction:.0%} labels"
        return f"{self.dataset.name} · {self.strategy.name} · {fraction} · seed {self.seed}"


# ---------------------------------------------------------------------------------------------- experiment file
def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping of key: value, not {type(value).__name__}")
    return dict(value)


def _entries(value: Any, what: str, base: Path, need_config: bool) -> list[Entry]:
    """``name: config path`` or ``name: {config: path, overrides: {...}}`` entries (paths relative to ``base``)."""
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{what} must be a non-empty mapping of name: config (or name: {{config, overrides}})")
    out = []
    for name, spec in value.items():
        spec = {"config": spec} if isinstance(spec, str) else _mapping(spec, f"{what}.{name}")
        unknown = sorted(set(spec) - {"config", "overrides"})
        if unknown:
            raise ConfigError(f"{what}.{name}: unknown key(s) {unknown}; use config and overrides")
        config = (base / spec["config"]).resolve() if spec.get("config") else None
        if config is None and need_config:
            raise ConfigError(f"{what}.{name} needs a config (a mosaic train YAML)")
        if config is not None and not config.is_file():
            raise ConfigError(f"{what}.{name}: config {config} does not exist")
        overrides = _mapping(spec.get("overrides"), f"{what}.{name}.overrides")
        _check_overrides(overrides, f"{what}.{name}.overrides")
        _check_no_budget(overrides, config, f"{what}.{name}")
        out.append(Entry(str(name), config, overrides))
    if len({e.slug for e in out}) < len(out):
        raise ConfigError(f"{what}: two names give the same folder name; rename one")
    return out


def _check_overrides(overrides: dict[str, Any], what: str) -> None:
    for key in overrides:
        if str(key).startswith("protocol."):
            raise ConfigError(f"{what}: {key} belongs in the experiment's protocol section (the same for every run)")


def _check_no_budget(overrides: dict[str, Any], config: Path | None, what: str) -> None:
    """Refuse a strategy or dataset whose overrides or config file set the training budget (``trainer.*`` but the
    cosmetic keys, ``early_stopping.*``, ``checkpoint.*``): one strategy would train for another budget."""
    import yaml

    keys = [str(k) for k in overrides]
    if config is not None:
        try:
            tree = yaml.safe_load(config.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{what}: {config} is not valid YAML: {' '.join(str(exc).split())}") from None
        for section in BUDGET_SECTIONS:
            value = tree.get(section) if isinstance(tree, dict) else None
            keys += [f"{section}.{k}" for k in value] if isinstance(value, dict) else [section] * (value is not None)
    for key in keys:
        section, _, name = key.partition(".")
        if section in BUDGET_SECTIONS and not (section == "trainer" and name in _COSMETIC_TRAINER_KEYS):
            where = f"{what}.overrides" if key in overrides else f"{what}'s config {config.name}"
            raise ConfigError(
                f"{where}: {key} changes the training budget or its checkpoints, which are the same for every "
                "strategy and dataset: set it in the experiment's overrides (every run) instead"
            )


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment file; :class:`ConfigError` names the first problem."""
    import yaml

    path = Path(path)
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the experiment file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    tree = _mapping(tree, str(path))
    unknown = sorted(set(tree) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; use {', '.join(sorted(_KEYS))}")
    base = path.resolve().parent
    fractions = tree.get("label_fractions", [0.1])
    seeds = tree.get("seeds", [0])
    modes = tree.get("eval_modes", ["linear_probe", "finetune"])
    valid = isinstance(fractions, list) and fractions
    if not valid or not all(f is None or (isinstance(f, (int, float)) and 0 < f <= 1) for f in fractions):
        raise ConfigError(f"{path}: label_fractions must be a list of numbers in (0, 1] or null, not {fractions!r}")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{path}: seeds must be a list of integers, not {seeds!r}")
    if not isinstance(modes, list) or not modes or not set(modes) <= set(EVAL_MODES):
        raise ConfigError(f"{path}: eval_modes must be a list out of {', '.join(EVAL_MODES)}, not {modes!r}")
    protocol = _mapping(tree.get("protocol"), "protocol")
    if set(protocol) & {"label_fraction", "seed"}:
        raise ConfigError(f"{path}: label fraction and seed are the matrix's label_fractions and seeds lists")
    evaluation = _mapping(tree.get("evaluation"), "evaluation")
    if set(evaluation) - {"protocol", "overrides"}:
        raise ConfigError(f"{path}: evaluation takes protocol and overrides, not {sorted(evaluation)}")
    evaluation = {k: _mapping(evaluation.get(k), f"evaluation.{k}") for k in ("protocol", "overrides")}
    if set(evaluation["protocol"]) & _CELL_KEYS:
        raise ConfigError(f"{path}: evaluation.protocol cannot change {sorted(_CELL_KEYS)}: a cell's patches are fixed")
    overrides = _mapping(tree.get("overrides"), "overrides")
    for what, mapping in (("overrides", overrides), ("evaluation.overrides", evaluation["overrides"])):
        _check_overrides(mapping, what)
    evaluate = _mapping(tree.get("evaluate"), "evaluate")
    if set(evaluate) - {"batch_size", "num_workers"}:
        raise ConfigError(f"{path}: evaluate takes batch_size and num_workers, not {sorted(evaluate)}")
    launch = tree.get("launch", "auto")
    if launch not in ("auto", "inline", "subprocess"):
        raise ConfigError(f"{path}: launch must be auto, inline or subprocess, not {launch!r}")
    return Experiment(
        path=path,
        title=str(tree.get("title") or path.stem),
        strategies=_entries(tree.get("strategies"), "strategies", base, need_config=True),
        datasets=_entries(tree.get("datasets"), "datasets", base, need_config=False),
        label_fractions=[None if f is None else float(f) for f in fractions],
        seeds=seeds,
        eval_modes=modes,
        protocol=protocol,
        evaluation=evaluation,
        overrides=overrides,
        evaluate=evaluate,
        launch=launch,
    )


# ---------------------------------------------------------------------------------------------- one run
def _flag(value: Any) -> str:
    """A value as ``mosaic train`` parses it on the command line (YAML / JSON syntax)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def stage_argv(exp: Experiment, cell: Cell, stage: str, folder: Path, init: str | None = None) -> list[str]:
    """The ``mosaic train`` arguments of ``stage`` (``pretrain``, ``linear_probe`` or ``finetune``) of ``cell``.

    Settings, later ones winning: one device per run, the experiment's overrides, the dataset's, the strategy's,
    for evaluation stages ``evaluation.overrides`` + the stage + ``init``; then the protocol (with the cell's label
    fraction and seed, and ``evaluation.protocol`` in evaluation stages); then the run's folders.
    """
    argv = ["--config", str(cell.strategy.config)]
    if cell.dataset.config is not None:
        argv += ["--config", str(cell.dataset.config)]
    settings = _settings(exp, cell)
    protocol = {**exp.protocol, "label_fraction": cell.label_fraction, "seed": cell.seed}
    if stage != "pretrain":
        settings.update(exp.evaluation["overrides"])
        settings.update({"model.stage": stage, "model.init_checkpoint": init})
        protocol.update(exp.evaluation["protocol"])
    settings.update({f"protocol.{k}": v for k, v in protocol.items()})
    settings.setdefault(
        "trainer.logger",
        {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": str(folder), "name": "logs"},
        },
    )
    settings.update({"trainer.default_root_dir": str(folder), "checkpoint.dirpath": str(folder / "checkpoints")})
    for key, value in settings.items():
        argv += [f"--{key}", _flag(value)]
    return argv


def _settings(exp: Experiment, cell: Cell) -> dict[str, Any]:
    """The cell's ``mosaic train`` overrides: one device per run, then the experiment's, dataset's, strategy's."""
    return {"trainer.devices": 1, **exp.overrides, **cell.dataset.overrides, **cell.strategy.overrides}


def _processes(settings: dict[str, Any]) -> int:
    """Training processes the trainer options ask for (``devices`` × ``num_nodes``; ``auto``/-1: visible GPUs)."""
    devices = settings.get("trainer.devices", 1)
    if isinstance(devices, (list, tuple)):
        count = len(devices)
    elif str(devices) in ("auto", "-1"):
        import torch

        count = max(1, torch.cuda.device_count())
    else:
        count = len(devices.split(",")) if isinstance(devices, str) and "," in devices else int(devices)
    return count * int(settings.get("trainer.num_nodes", 1))


def _launch(exp: Experiment, cell: Cell, argv: list[str]) -> None:
    """One ``mosaic train`` with ``argv``: in this process, or as a subprocess (several processes, or asked)."""
    separate = exp.launch == "subprocess" or (exp.launch == "auto" and _processes(_settings(exp, cell)) > 1)
    if not separate:
        from ..training.cli import train

        train(argv)
        return
    command = [sys.executable, "-m", f"{__package__.rpartition('.')[0]}.cli", "train", *argv]
    code = subprocess.run(command, check=False).returncode  # noqa: S603 - our own command, no shell
    if code == 130:
        raise KeyboardInterrupt
    if code:
        raise MosaicError(f"mosaic train exited with status {code} (its message is above)")


def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(content, indent=1)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _newest_checkpoint(folder: Path) -> Path | None:
    """Where a killed run continues: the newest of ``interrupted.ckpt`` and ``last.ckpt`` in ``folder``."""
    found = [p for p in (folder / "interrupted.ckpt", folder / "last.ckpt") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def train_stage(exp: Experiment, cell: Cell, stage: str, folder: Path, init: str | None = None) -> dict:
    """Train ``stage`` of ``cell`` in ``folder`` (resuming a killed run) unless it finished; its record."""
    from ..training.callbacks import TrainingRecord

    marker = folder / "trained.json"
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    argv = stage_argv(exp, cell, stage, folder, init)
    resume = _newest_checkpoint(folder / "checkpoints")
    start = time.monotonic()
    _launch(exp, cell, argv + (["--resume", str(resume)] if resume else []))
    record = json.loads((folder / "checkpoints" / TrainingRecord.FILE).read_text(encoding="utf-8"))
    record.update(
        stage=stage, seconds=round(time.monotonic() - start, 1), resumed_from=resume and str(resume), argv=argv
    )
    _write_json(marker, record)
    return record


def _sha256(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def evaluate_stage(exp: Experiment, cell: Cell, mode: str, record: dict, pretrain: dict, folder: Path) -> dict:
    """``mosaic evaluate`` of the model ``record`` describes; the cell's row for ``mode`` (``done.json``)."""
    from .evaluate import evaluate_checkpoint
    from .tables import METRIC_COLUMNS

    marker = folder / "done.json"
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    checkpoint = record["best_checkpoint"] or record["last_checkpoint"]
    start = time.monotonic()
    result = evaluate_checkpoint(checkpoint, out_dir=folder / "evaluation", tsne=False, **exp.evaluate)
    m = result["metrics"]
    row = {
        "dataset": cell.dataset.name,
        "strategy": cell.strategy.name,
        "eval_mode": mode,
        "label_fraction": cell.label_fraction,
        "seed": cell.seed,
        **{k: m[k] for k in METRIC_COLUMNS},
        "test_patches": m["n_samples"],
        "train_images": record.get("train_images"),
        "labelled_images": record.get("labelled_images"),
        "images_seen": record.get("images_seen"),
        "pretrain_images_seen": pretrain.get("images_seen"),
        "labelled_sha256": _sha256(record.get("labelled_patch_ids", [])),
        "pretrain_seconds": pretrain.get("seconds"),
        "train_seconds": record.get("seconds"),
        "eval_seconds": round(time.monotonic() - start, 1),
        "checkpoint": checkpoint,
    }
    row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    _write_json(marker, row)
    return row


def run_cell(exp: Experiment, cell: Cell, out: Path, say) -> None:
    """Pre-train ``cell`` and evaluate it in every evaluation mode (finished stages are skipped)."""
    folder = cell.folder(out)
    pending = [m for m in exp.eval_modes if not (folder / m / "done.json").is_file()]
    if not pending:
        return
    say(f"{cell.describe()}: pretrain")
    pretrain = train_stage(exp, cell, "pretrain", folder / "pretrain")
    for mode in pending:
        say(f"{cell.describe()}: {mode}")
        record = pretrain
        if mode != "joint":
            init = pretrain["last_checkpoint"]
            record = train_stage(exp, cell, mode, folder / mode, init)
        evaluate_stage(exp, cell, mode, record, pretrain, folder / mode)


def collect_rows(exp: Experiment, out: Path) -> tuple[list[dict], list[str]]:
    """The finished rows of the matrix (``done.json``) and the names of the missing ones."""
    rows, missing = [], []
    for cell in exp.cells():
        for mode in exp.eval_modes:
            marker = cell.folder(out) / mode / "done.json"
            if marker.is_file():
                rows.append(json.loads(marker.read_text(encoding="utf-8")))
            else:
                missing.append(f"{cell.describe()} · {mode}")
    return rows, missing


def run_experiment(
    path: str | Path, out: str | Path, shard: tuple[int, int] = (0, 1), report_only: bool = False, say=print
) -> dict:
    """Run (this shard of) the matrix of ``path`` into ``out`` and write the tables; returns their paths and counts."""
    from .tables import write_tables

    exp = load_experiment(path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index, count = shard
    cells = [c for i, c in enumerate(exp.cells()) if i % count == index]
    if not report_only:
        for i, cell in enumerate(cells, 1):
            run_cell(exp, cell, out, lambda text, i=i: say(f"[{i}/{len(cells)}] {text}"))
            write_tables(exp, out, *collect_rows(exp, out))
    rows, missing = collect_rows(exp, out)
    files = write_tables(exp, out, rows, missing)
    return {"rows": len(rows), "missing": missing, "files": [str(f) for f in files]}


# ---------------------------------------------------------------------------------------------- command line
def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise argparse.ArgumentTypeError(f"--shard takes K/N with 0 <= K < N (e.g. 0/4), not {text!r}")
    return int(match[1]), int(match[2])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic experiment``."""
    parser.add_argument("experiment", help="experiment YAML (e.g. experiments/paper_ben.yaml)")
    parser.add_argument("--out", "-o", required=True, help="output folder (runs/, results.csv, results.md, plot)")
    parser.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="K/N",
        help="run only the cells i with i mod N = K (e.g. one SLURM array task each)",
    )
    parser.add_argument("--report-only", action="store_true", help="only rewrite the tables from finished runs")


def run(args: argparse.Namespace) -> int:
    """Run the matrix and print where the tables are."""

    def say(text: str) -> None:
        print(f"mosaic experiment: {text}", file=sys.stderr, flush=True)

    result = run_experiment(args.experiment, args.out, args.shard, args.report_only, say)
    pending = f"; {len(result['missing'])} pending" if result["missing"] else ""
    print(f"{result['rows']} results in {Path(args.out) / 'results.csv'}{pending}")
    return 0
