"""The backend Python: a separate interpreter with PyTorch that runs training, dataset preparation and export.

torch is never imported into QGIS: every backend step is ``<backend python> -m mosaic.backend.cli <command> ...``
run as a subprocess (argv list, no shell). The interpreter is a setting; :func:`create_env_commands` gives the
commands that create a virtual environment next to the QGIS profile and install the pinned backend into it.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

from . import settings
from .paths import PLUGIN_DIR

CONSTRAINTS = PLUGIN_DIR / "requirements" / "constraints.txt"
#: the backend environment shares nothing with QGIS's Python, so it takes numpy 2 (wheels for every Python QGIS uses)
NUMPY_PINS = PLUGIN_DIR / "requirements" / "numpy2.txt"
CLI_MODULE = "mosaic.backend.cli"
SUMMARY_MODULE = "mosaic.backend.data.dataset_summary"
CONFIG_DIR = PLUGIN_DIR / "configs"


def default_env_dir() -> Path:
    """``<QGIS profile>/python/mosaic_backend_venv``: where the training dialog creates the backend environment."""
    from .deps import deps_dir

    return deps_dir().parent / "mosaic_backend_venv"


def env_python(env_dir: Path) -> Path:
    """The interpreter of the virtual environment ``env_dir``."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def backend_python() -> str:
    """The configured backend interpreter (setting ``backend_python``), or ``""`` when none is set."""
    return str(settings.value("backend_python") or "")


def backend_command(python: str, *args: str) -> list[str]:
    """argv of ``mosaic <args>`` run by ``python``."""
    return [python, "-m", CLI_MODULE, *args]


def create_env_commands(env_dir: Path, base_python: str) -> list[list[str]]:
    """Commands that create ``env_dir`` and install the pinned backend (``pip install -e <plugin>[backend]``)."""
    python = str(env_python(env_dir))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    return [
        [base_python, "-m", "venv", str(env_dir)],
        [*pip, "--upgrade", "pip>=24", "-c", str(CONSTRAINTS)],
        [*pip, "-c", str(CONSTRAINTS), "-c", str(NUMPY_PINS), "-e", f"{PLUGIN_DIR}[backend]"],
        backend_command(python, "version"),
    ]


def subprocess_environment() -> dict[str, str]:
    """Environment for backend subprocesses: QGIS's own Python variables removed, progress as JSON lines."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONHOME", "PYTHONPATH"}}
    env["MOSAIC_PROGRESS_JSONL"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


#: config name → the strategy in an analyst's words (the training dialog lists these, MoSAiC first)
STRATEGY_WORDS = {
    "mosaic1": "MoSAiC-1: learns from your labels and from the images themselves, S1+S2 (recommended)",
    "mosaic2": "MoSAiC-2: as MoSAiC-1, its objectives balanced",
    "mosaic2_terms": "MoSAiC-2 variant: label contrast within each sensor",
    "supervised_s1s2": "Labels only, Sentinel-1 + Sentinel-2 (one encoder each)",
    "supervised_s1s2_early": "Labels only, Sentinel-1 + Sentinel-2 stacked in one encoder",
    "supervised_s2": "Labels only, Sentinel-2 alone",
    "supervised_s1": "Labels only, Sentinel-1 alone",
    "mulsupcon": "Label contrast (MulSupCon), Sentinel-1 + Sentinel-2",
    "iai_simclr": "Images only (S1-S2 contrast, IaI-SimCLR), then a linear classifier",
    "simclr_s2": "Images only (SimCLR), Sentinel-2 alone, then a linear classifier",
    "simclr_s1": "Images only (SimCLR), Sentinel-1 alone, then a linear classifier",
}
ENV_DOWNLOAD_GB = 3  #: the backend environment's download on Linux (PyTorch with CUDA libraries), measured
ENV_DISK_GB = 6  #: its size on disk (torch 1.2 GB, NVIDIA libraries 3.2 GB, triton 0.9 GB, the rest 0.5 GB)
ENV_MINUTES = (10, 30)  #: minutes to create it, from a fast to a slow connection


def strategy_configs(config_dir: Path = CONFIG_DIR) -> dict[str, Path]:
    """Training strategies offered: one per YAML in ``configs/`` (name = file stem), sorted."""
    return {p.stem: p for p in sorted(config_dir.glob("*.yaml"))}


def strategies_for_analysts(config_dir: Path = CONFIG_DIR) -> list[str]:
    """The strategy names in :data:`STRATEGY_WORDS`'s order (MoSAiC first), then any other by name."""
    order = list(STRATEGY_WORDS)
    return sorted(strategy_configs(config_dir), key=lambda n: (order.index(n) if n in order else len(order), n))


def strategy_text(name: str) -> str:
    """``MoSAiC-1: … (mosaic1)``: the strategy in plain words, its config name second."""
    words = STRATEGY_WORDS.get(name)
    return f"{words} ({name})" if words else name


def dataset_overrides(dataset: str) -> list[str]:
    """``--data.root`` (the folder with ``metadata.parquet``) and, when there is one, the packed LMDB.

    Accepts the dataset folder (an LMDB inside it, e.g. ``BigEarthNet-V2-LMDB/``, is used when present) or the
    LMDB folder itself (``data.mdb``; its parent holds ``metadata.parquet``).
    """
    path = Path(dataset)
    if (path / "data.mdb").is_file():
        lmdb, root = path, path.parent if (path.parent / "metadata.parquet").is_file() else path
    else:
        root = path
        lmdb = next((p.parent for p in sorted(path.glob("*/data.mdb"))), None)
    args = [f"--data.root={root}"]
    if lmdb is not None:
        args.append(f"--data.options.lmdb_path={lmdb}")
    return args


def train_command(
    python: str,
    config: Path,
    dataset: str,
    label_fraction: float,
    epochs: int,
    batch_size: int,
    device: str,
    backbone: str = "",
    workers: int | None = None,
    init_published: list[str] | None = None,
) -> list[str]:
    """argv of the training run: the strategy's YAML plus the choices as LightningCLI overrides.

    Run it with the run folder as working directory: the configs write ``runs/`` relative to it.
    ``backbone`` ``""`` keeps the strategy's encoder; ``workers`` None keeps its data-loader workers;
    ``init_published``: folders of published checkpoints that start the encoders (:func:`published_heads_for`).
    """
    args = [
        "train",
        "--config",
        str(config),
        "--progress-jsonl",
        *dataset_overrides(dataset),
        f"--protocol.label_fraction={label_fraction:g}",
        f"--protocol.batch_size={batch_size}",
        f"--protocol.epochs={epochs}",
        f"--trainer.accelerator={device}",
    ]
    if backbone:
        args.append(f"--model.backbone={backbone}")
    if workers is not None:
        args.append(f"--data.num_workers={workers}")
    if init_published:
        args.append(f"--model.init_published={json.dumps(list(init_published))}")
    return backend_command(python, *args)


def published_heads_for(config: Path) -> list[str]:
    """The heads of a published three-head model (``fused``, ``s1``, ``s2``) whose checkpoints start the encoders of
    the strategy ``config``: late fusion (two encoders) the S1-only and S2-only checkpoints, early fusion (one
    encoder on S2 + S1) the S1+S2 one, a one-modality network its modality's (``model.modalities``, ``model.fusion``
    of the YAML; ``mosaic train --model.init_published`` refuses any other set)."""
    import yaml

    model = (yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}).get("model") or {}
    modalities, fusion = model.get("modalities", "s1s2"), model.get("fusion", "late")
    if modalities == "s1s2":
        return ["fused"] if fusion == "early" else ["s1", "s2"]
    return [modalities]


def published_catalogue() -> str | None:
    """The catalogue of published models the plugin uses: the setting ``published/catalogue`` (a mirror's), else
    None (the bundled ``resources/published_models.json``)."""
    return str(settings.value("published/catalogue") or "") or None


def models_get_command(python: str, names: list[str], download_only: bool = False) -> list[str]:
    """argv of ``mosaic models get NAME... --progress-jsonl``: download (resumable, verified) into the cache and
    import to ``<cache>/onnx/NAME.onnx``; ``download_only``: ``--no-import`` (the checkpoint folders, to train from)."""
    args = ["models", "get", *names, "--progress-jsonl"]
    if download_only:
        args.append("--no-import")
    catalogue = published_catalogue()
    if catalogue:
        args += ["--catalogue", catalogue]
    return backend_command(python, *args)


def model_path(run_dir: str | Path, strategy: str, started: datetime) -> Path:
    """``<run folder>/<strategy>_<YYYY-MM-DD_HHMM>.onnx`` of a training started at ``started`` (``_2``… when that
    name is taken): where the training dialog and ``mosaic:train`` export."""
    stem = f"{strategy}_{started:%Y-%m-%d_%H%M}"
    path, n = Path(run_dir) / f"{stem}.onnx", 1
    while path.exists():
        n += 1
        path = Path(run_dir) / f"{stem}_{n}.onnx"
    return path


def evaluation_dir(onnx_path: str | Path) -> Path:
    """``<model>_evaluation`` beside the model: ``mosaic evaluate``'s ``metrics.json`` and report."""
    return Path(onnx_path).with_name(Path(onnx_path).stem + "_evaluation")


def dataset_summary_command(python: str, root: str) -> list[str]:
    """argv that prints the split sizes of the dataset in ``root`` (:mod:`mosaic.backend.data.dataset_summary`)."""
    return [python, "-m", SUMMARY_MODULE, root]


def evaluate_command(python: str, checkpoint: str, out_dir: str, workers: int = 0) -> list[str]:
    """argv of ``mosaic evaluate CKPT --out DIR`` on the test split (thresholds tuned on validation), without the
    t-SNE plots; its ``metrics.json`` goes into the exported model."""
    return backend_command(python, "evaluate", checkpoint, "--out", out_dir, "--num-workers", str(workers), "--no-tsne")


def export_command(python: str, checkpoint: str, onnx_path: str, evaluation: str | None = None) -> list[str]:
    """argv of ``mosaic export CKPT -o model.onnx`` (with ``--evaluation metrics.json``: its tuned thresholds and
    test metrics recorded in the model)."""
    extra = ["--evaluation", evaluation] if evaluation else []
    return backend_command(python, "export", checkpoint, "-o", onnx_path, *extra)
