"""The plugin's real-QGIS checks inside one Debian root of `make qgis-matrix` (tools/qgis_matrix.sh).

Runs with the root's own ``python3`` (its QGIS, GDAL, numpy and Debian's onnxruntime; no torch, no project venv).
The caller bind-mounts the checkout as plugin ``mosaic`` in ``--plugins``, the T33UUP band files in ``--data``, and
the test network and the host's ``mosaic predict`` probabilities in ``--model`` / ``--reference``. The algorithm ids
and the ``mosaic:classify`` parameters are the host tests' (``tests/plugin/processing_case.py``). Checks:

1. ``qgis_process.bin`` enables the plugin and lists the four ``mosaic:`` algorithms;
2. ``mosaic:inspect_model`` through ``qgis_process.bin`` reports 19 classes and 120 px patches;
3. ``mosaic:classify`` through ``qgis_process.bin``: the same NaN cells as the reference and
   max |p_plugin − p_predict| ≤ 1e-5 over the finite probabilities;
4. the same two algorithms through ``qgis.core`` + ``processing.run`` in a standalone Python process;
5. the QGIS desktop under Xvfb runs the host tests' probe (``tests/plugin/qgis_desktop_probe.py``): the plugin
   loads, adds its menu entries and toolbar action and the ``mosaic`` provider, opens its dock, and unloads
   leaving none of them behind;
6. in the desktop, the dock classifies the T33UUP band layers (``tools/qgis_matrix_dock_probe.py``): a label layer
   styled with the 19 classes, probabilities equal to the reference within 1e-5;
7. only with ``--onnxruntime-install``, in a root without onnxruntime (and instead of 1–6): the dock offers its
   install, *Install onnxruntime* runs pip with QGIS's Python into the profile's ``python/mosaic_deps``, QGIS then
   imports that onnxruntime with its own numpy, the "onnxruntime is missing" warning is gone, and the dock run of
   check 6 equals the reference;
8. with ``--training-python``, in the desktop, the host tests' training probe (``tests/plugin/qgis_training_probe.py``):
   *Raster ▸ MoSAiC Land Cover ▸ Train a MoSAiC model…*, the dialog alive after a garbage collection, *Prepare…* opens
   Processing's ``mosaic:prepare``, *Train* on the bundled sample (one epoch), the exported model in the dock, which
   opens wide enough for *Run*, *Cancel*, the model's browse button and the status. The backend Python is the
   caller's (the roots hold Debian packages only: no PyTorch or Lightning); the caller gives the checkout, the sample
   and the run folder at the same paths inside the root as outside it.

A failure prints one line naming the QGIS version and exits with status 1; every QGIS run must exit cleanly.
(QGIS 3.40 and 3.44 die with signal 11 at exit while raster layers added by ``--code`` are loaded, with or without
this plugin: the dock probe closes the project before quitting.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TOLERANCE = 1e-5  #: max |Δp| against `mosaic predict`, as the host tests require
DOCK_WIDTH_PX = 420  #: the dock's default width (plugin/dock.py; this script runs without importing the plugin)
QGIS_PYTHON_PLUGINS = "/usr/share/qgis/python/plugins"  #: Debian's home of the Processing framework


class CheckError(Exception):
    """A check failed; the message is the one-line reason."""


def _major_minor(version: str) -> tuple[int, int]:
    """``"3.44.15-Solothurn"`` → ``(3, 44)``."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor.split("-")[0])


def qgis_version() -> str:
    from qgis.core import Qgis

    return Qgis.QGIS_VERSION


def qgis_env(plugins: str, work: Path) -> dict[str, str]:
    """A private HOME/profile and runtime folder, offscreen Qt, the checkout as plugin ``mosaic``."""
    home, runtime = work / "home", work / "runtime"
    home.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700, exist_ok=True)
    return dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), QGIS_PLUGINPATH=plugins)


def run(args: list[str], env: dict[str, str], what: str) -> str:
    """Run a QGIS command; its stdout, or :class:`CheckError` with its last line of output."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603 - our argv
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "(no output)").splitlines()[-1]
        raise CheckError(f"{what} exited with status {done.returncode}: {last}")
    return done.stdout


def compare(probabilities: Path, reference: Path, what: str) -> float:
    """max |Δp| between the plugin's and the reference probabilities; raises when cells or values differ."""
    import numpy as np
    from osgeo import gdal

    gdal.UseExceptions()
    ours, theirs = (gdal.Open(str(p)).ReadAsArray() for p in (probabilities, reference))
    if ours.shape != theirs.shape:
        raise CheckError(f"{what}: probabilities {ours.shape} but mosaic predict {theirs.shape}")
    if not np.array_equal(np.isnan(ours), np.isnan(theirs)):
        raise CheckError(f"{what}: nodata cells differ from mosaic predict")
    finite = np.isfinite(theirs)
    if not finite.any():
        raise CheckError(f"{what}: no finite probability to compare")
    delta = float(np.abs(ours[finite] - theirs[finite]).max())
    if delta > TOLERANCE:
        raise CheckError(f"{what}: probabilities differ from mosaic predict by {delta:.2e} > {TOLERANCE:g}")
    return delta


def check_inspect(result: dict, what: str) -> None:
    if int(result["N_CLASSES"]) != 19 or int(result["PATCH_SIZE_PX"]) != 120:
        raise CheckError(f"{what}: {result['N_CLASSES']} classes, {result['PATCH_SIZE_PX']} px (want 19, 120)")


def qgis_process_json(stdout: str, what: str) -> dict:
    """The JSON document ``qgis_process.bin --json`` printed (QGIS may print log lines before it)."""
    start = stdout.find("{")
    if start < 0:
        raise CheckError(f"{what}: no JSON in the output of qgis_process.bin")
    return json.loads(stdout[start:])


def check_qgis_process(args: argparse.Namespace) -> list[str]:
    """Checks 1–3; one note per check."""
    from mosaic.tests.plugin.processing_case import ALGORITHMS, classify_parameters

    env = qgis_env(args.plugins, args.work)
    run(["qgis_process.bin", "plugins", "enable", "mosaic"], env, "qgis_process.bin plugins enable mosaic")
    listing = run(["qgis_process.bin", "list"], env, "qgis_process.bin list")
    missing = [a for a in ALGORITHMS if a not in listing.split()]
    if missing:
        raise CheckError(f"qgis_process.bin list: {', '.join(missing)} missing")
    notes = [f"qgis_process.bin lists {len(ALGORITHMS)} mosaic: algorithms"]

    what = "qgis_process.bin run mosaic:inspect_model"
    inspected = run(
        ["qgis_process.bin", "--json", "run", "mosaic:inspect_model", "--", f"MODEL={args.model}"], env, what
    )
    check_inspect(qgis_process_json(inspected, what)["results"], what)
    notes.append("mosaic:inspect_model: 19 classes, 120 px")

    out = args.work / "qgis_process"
    out.mkdir(parents=True, exist_ok=True)
    parameters = classify_parameters(args.data, args.model, out)
    command = ["qgis_process.bin", "run", "mosaic:classify", "--"]
    for key, value in parameters.items():
        command += [f"{key}={item}" for item in (value if isinstance(value, list) else [value])]
    what = "qgis_process.bin run mosaic:classify"
    run(command, env, what)
    delta = compare(out / "p.tif", args.reference, what)
    notes.append(f"qgis_process.bin mosaic:classify = mosaic predict (max |Δp| {delta:.1e})")
    return notes


def check_processing_run(args: argparse.Namespace) -> list[str]:
    """Check 4: a standalone qgis.core + processing script in its own process (it may crash at exit on 3.40)."""
    out = args.work / "processing_run"
    out.mkdir(parents=True, exist_ok=True)
    result = out / "result.json"
    command = [
        sys.executable,
        __file__,
        "--processing-script",
        "--plugins",
        args.plugins,
        "--data",
        str(args.data),
        "--model",
        str(args.model),
        "--reference",
        str(args.reference),
        "--work",
        str(out),
    ]
    what = "qgis.core + processing.run script"
    run(command, qgis_env(args.plugins, args.work), what)
    outcome = json.loads(result.read_text())
    check_inspect(outcome["inspect_model"], f"{what} mosaic:inspect_model")
    delta = compare(Path(outcome["classify"]["OUTPUT_PROBABILITIES"]), args.reference, f"{what} mosaic:classify")
    return [f"processing.run inspect_model + classify = mosaic predict (max |Δp| {delta:.1e})"]


def run_desktop(args: argparse.Namespace, probe: Path, name: str, plugins: str = "", **env_extra: str) -> dict:
    """Run the real desktop (``qgis --code PROBE`` under ``xvfb-run``, a 1600 × 1000 screen) in a fresh profile with
    ``plugins`` (default ``--plugins``) as the plugin folder; the probe's JSON report."""
    out = args.work / name
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "probe.json"
    env = qgis_env(plugins or args.plugins, args.work)
    env.pop("QT_QPA_PLATFORM", None)  # the desktop needs the (virtual) X display
    env.update(env_extra, MOSAIC_PROBE_OUT=str(report_path))
    command = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1600x1000x24",
        "qgis",
        "--nologo",
        "--noversioncheck",
        "--noplugins",
        "--profiles-path",
        str(out / "profiles"),
        "--code",
        str(probe),
    ]
    what = f"QGIS desktop (xvfb-run qgis --code {probe.name})"
    run(command, env, what)
    report = json.loads(report_path.read_text())
    if report.get("error"):
        raise CheckError(f"{what}: {report['error'].strip().splitlines()[-1]}")
    return report


def check_desktop(args: argparse.Namespace) -> list[str]:
    """Check 5: the real desktop loads, shows and unloads the plugin (the host tests' probe)."""
    probe = Path(args.plugins, "mosaic", "tests", "plugin", "qgis_desktop_probe.py")
    report = run_desktop(args, probe, "desktop")
    what = "QGIS desktop probe"
    loaded, unloaded = report["after_load"], report["after_unload"]
    menu = {e["name"] for e in loaded["menu"]}
    left = unloaded["toolbar"] or "mosaic" in unloaded["providers"] or menu & {e["name"] for e in unloaded["menu"]}
    failed = {
        "not loaded": report["loaded"] is not True,
        "Raster menu entries missing": not {"mosaicClassifyAction", "mosaicTrainAction"} <= menu,
        "no toolbar action": not loaded["toolbar"],
        "no mosaic Processing provider": "mosaic" not in loaded["providers"],
        "the dock did not open": report["dock_visible"] is not True,
        "unload failed": report["unloaded"] is not True,
        "menu entries, toolbar action or provider left after unload": bool(left),
    }
    problems = [problem for problem, happened in failed.items() if happened]
    if problems:
        raise CheckError(f"{what}: {'; '.join(problems)}")
    return ["desktop loads the plugin, opens the dock, unloads cleanly"]


def dock_run(args: argparse.Namespace, name: str, what: str, **env_extra: str) -> tuple[dict, float]:
    """In the real desktop, the dock classifies the T33UUP band layers (tools/qgis_matrix_dock_probe.py): the probe's
    report and max |Δp| against the reference; raises unless a label layer is styled with the 19 classes."""
    report = run_desktop(
        args,
        Path(__file__).with_name("qgis_matrix_dock_probe.py"),
        name,
        MOSAIC_PROBE_DATA=str(args.data),
        MOSAIC_PROBE_MODEL=str(args.model),
        MOSAIC_PROBE_RESULTS=str(args.work / f"{name}_results"),
        **env_extra,
    )
    styled = [layer for layer in report["layers"] if layer["renderer"] == "QgsPalettedRasterRenderer"]
    if not any(layer["classes"] == 19 for layer in styled):
        raise CheckError(f"{what}: no label layer styled with the 19 classes among {report['layers']}")
    return report, compare(Path(report["outputs"]["probabilities"]), args.reference, what)


def check_dock(args: argparse.Namespace) -> list[str]:
    """Check 6: the dock's run into styled layers whose probabilities equal the reference."""
    report, delta = dock_run(args, "dock", "QGIS desktop dock run")
    return [f"dock run adds {len(report['layers'])} styled layers, = mosaic predict (max |Δp| {delta:.1e})"]


def check_onnxruntime_install(args: argparse.Namespace) -> list[str]:
    """Check 7: where onnxruntime is absent, the dock's one-click install (pip into the profile's mosaic_deps) gives
    QGIS an onnxruntime that classifies like the reference, QGIS's own numpy kept."""
    import importlib.util

    what = "QGIS desktop onnxruntime install + dock run"
    if importlib.util.find_spec("onnxruntime") is not None:
        raise CheckError(f"{what}: this root has onnxruntime already; the install cannot be checked")
    report, delta = dock_run(args, "install", what, MOSAIC_PROBE_INSTALL="1")
    installed = report["install"]
    if "/python/mosaic_deps/onnxruntime/" not in installed["onnxruntime"]:
        raise CheckError(f"{what}: QGIS imported onnxruntime from {installed['onnxruntime']}, not mosaic_deps")
    if "/mosaic_deps/" in installed["numpy"] or not installed["run_enabled"]:
        raise CheckError(f"{what}: numpy from {installed['numpy']}, Run enabled: {installed['run_enabled']}")
    if os.path.realpath(installed["pip_python"]) != os.path.realpath(sys.executable):  # this root's only Python
        raise CheckError(f"{what}: pip ran with {installed['pip_python']}, not QGIS's Python {sys.executable}")
    if installed["warnings_left"]:
        raise CheckError(f"{what}: the message bar still says {installed['warnings_left'][0]!r}")
    return [
        f"the dock installs onnxruntime {installed['version']} into mosaic_deps (QGIS's numpy kept); its dock run "
        f"= mosaic predict (max |Δp| {delta:.1e})"
    ]


def check_training(args: argparse.Namespace) -> list[str]:
    """Check 8: the training dialog from its menu entry trains on the bundled sample and its model reaches the dock."""
    what = "QGIS desktop training from the menu"
    report = run_desktop(
        args,
        Path(args.training_plugins, "mosaic", "tests", "plugin", "qgis_training_probe.py"),
        "training",
        plugins=args.training_plugins,
        MOSAIC_PROBE_PYTHON=args.training_python,
        MOSAIC_PROBE_DATASET=args.training_data,
        MOSAIC_PROBE_RUNS=str(Path(args.training_runs) / args.work.name),
        MOSAIC_PROBE_SHOTS=str(Path(args.training_runs) / args.work.name / "screenshots"),
    )
    failed = {
        f"training failed: {report.get('failed')}": report.get("failed") is not None,
        f"the menu opened a {report.get('dialog_class')}, not the TrainingDialog": report.get("dialog_class")
        != "TrainingDialog",
        "Prepare… did not open mosaic:prepare": report.get("prepare_algorithm") != "mosaic:prepare",
        f"noise in the dialog's log: {report.get('noise_in_log')}": bool(report.get("noise_in_log")),
        f"no mosaic1 model with 19 classes in the dock: {report.get('model')}": report.get("strategy") != "mosaic1"
        or report.get("classes") != 19,
        f"the model has no test accuracy: {report.get('accuracy')}": not report.get("accuracy"),
        f"the dock cuts controls off: {report.get('dock')}": not report.get("dock")
        or not all(report["dock"]["inside"].values()),
        f"the dock opened narrower than {DOCK_WIDTH_PX} px: {report.get('dock')}": bool(report.get("dock"))
        and report["dock"]["width"] < min(DOCK_WIDTH_PX, report["dock"]["room"]),
    }
    problems = [problem for problem, happened in failed.items() if happened]
    if problems:
        raise CheckError(f"{what}: {'; '.join(problems)}")
    return [f"trained from the menu, {Path(report['model']).name} in the {report['dock']['width']} px dock"]


def processing_script(args: argparse.Namespace) -> None:
    """The standalone script: QgsApplication, Processing, the plugin's provider, two processing.run calls;
    writes their results to ``work/result.json``."""
    sys.path.append(QGIS_PYTHON_PLUGINS)
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    import processing
    from processing.core.Processing import Processing

    from mosaic.plugin.processing.provider import MosaicProvider
    from mosaic.tests.plugin.processing_case import classify_parameters

    Processing.initialize()
    provider = MosaicProvider()  # kept referenced: its algorithms' Python objects must outlive addProvider
    QgsApplication.processingRegistry().addProvider(provider)
    inspected = processing.run("mosaic:inspect_model", {"MODEL": str(args.model)})
    classified = processing.run("mosaic:classify", classify_parameters(args.data, args.model, args.work))
    outcome = {
        "inspect_model": {k: inspected[k] for k in ("N_CLASSES", "PATCH_SIZE_PX")},
        "classify": {k: str(v) for k, v in classified.items()},
    }
    (args.work / "result.json").write_text(json.dumps(outcome))
    app.exitQgis()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", required=True, help="QGIS plugin folder holding the checkout as 'mosaic'")
    parser.add_argument("--data", type=Path, required=True, help="folder of the T33UUP band files")
    parser.add_argument("--model", type=Path, required=True, help="the test network (.onnx)")
    parser.add_argument("--reference", type=Path, required=True, help="probabilities.tif of mosaic predict")
    parser.add_argument("--work", type=Path, required=True, help="folder for profiles and outputs")
    parser.add_argument(
        "--expect-version",
        default="0.0",
        help="the oldest QGIS version this root may have (3.40); Debian unstable moves on to "
        "newer ones, which are then the ones tested",
    )
    parser.add_argument(
        "--onnxruntime-install",
        action="store_true",
        help="only check 7: the dock's onnxruntime install in a root without onnxruntime",
    )
    parser.add_argument("--training-python", help="check 8 with this backend Python (PyTorch, the MoSAiC backend)")
    parser.add_argument("--training-plugins", help="check 8: plugin folder holding the checkout as 'mosaic'")
    parser.add_argument("--training-data", help="check 8: the bundled training sample")
    parser.add_argument("--training-runs", help="check 8: folder for the run folders (one per root)")
    parser.add_argument("--processing-script", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, args.plugins)  # the checkout as package ``mosaic``: the plugin and tests/plugin/processing_case
    if args.processing_script:
        processing_script(args)
        return 0
    version = qgis_version()
    label = f"QGIS {version} (Python {sys.version.split()[0]})"
    try:
        if _major_minor(version) < _major_minor(args.expect_version):
            raise CheckError(f"this root has QGIS {version}, expected {args.expect_version} or later")
        checks = (check_qgis_process, check_processing_run, check_desktop, check_dock)
        checks += (check_training,) if args.training_python else ()
        for check in (check_onnxruntime_install,) if args.onnxruntime_install else checks:
            start = time.monotonic()
            notes = check(args)
            print(f"qgis-matrix: {label}: ok: {'; '.join(notes)} ({time.monotonic() - start:.0f} s)", flush=True)
    except (CheckError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as error:
        print(f"qgis-matrix: FAIL: {label}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
