"""``mosaic inspect MODEL.onnx``: validate a model file and show its metadata (or print it as JSON)."""

from __future__ import annotations

import argparse
import json

from ..inference import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX model exported by `mosaic export`")
    parser.add_argument("--json", action="store_true", help="print the metadata JSON as stored in the model")


def shown(value: object) -> str:
    """``value`` as text with control characters escaped (ESC → ``\\x1b``): metadata strings come from the
    model file, and a terminal must not act on escape sequences hidden in them."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(value))


def describe(model) -> str:
    """A human summary of a validated model: graph inputs, classes with thresholds and colours, training, metrics,
    classification heads (fused, S1-only, S2-only: outputs and their metrics), precision (fp16 / int8: this file's
    metrics next to the fp32 graph's)."""
    m = model.metadata
    lines = [f"{model.path.name}: valid MoSAiC model (metadata schema v{m.schema_version})"]
    for name, spec in (("s2", m.s2), ("s1", m.s1)):
        where = "in the graph" if spec.normalised_in_graph else "by the engine"
        shape = f"[N, {len(spec.bands)}, {m.patch_size_px}, {m.patch_size_px}]"
        lines.append(
            f"input {name}: {shape} {spec.dtype}, {spec.units}, bands {' '.join(spec.bands)}; "
            f"nodata {spec.nodata}; normalised {where}"
        )
    lines.append(
        f"s2 radiometry: Level-{m.s2.level[1:]}, reflectance = (DN + {m.s2.add_offset:g}) / "
        f"{m.s2.quantification_value:g}; inputs are harmonised to it"
    )
    lines.append(f"grid: {m.gsd_m:g} m, patch {m.patch_size_px} px, 20/60 m bands upsampled with {m.upsampling}")
    arch = ", ".join(f"{shown(k)} {shown(v)}" for k, v in m.raw.get("architecture", {}).items())
    lines.append(
        f"strategy: {shown(m.strategy)}{'; ' + arch if arch else ''}; training: "
        + ", ".join(f"{shown(k)}={shown(v)}" for k, v in m.training.items())
    )
    tuned = "tuned on validation" if m.thresholds_tuned else "default 0.5, not tuned"
    lines.append(f"classes ({m.n_classes}; thresholds {tuned}):")
    lines += [
        f"  {i:2d} {c} {t:.3f} {n}" for i, (n, c, t) in enumerate(zip(m.class_names, m.class_colors, m.thresholds))
    ]
    if m.metrics:
        lines.append("metrics: " + ", ".join(f"{shown(k)}={v:.4f}" for k, v in sorted(m.metrics.items())))
    fused_only = " (fused only: no S1-only head for cloudy tiles)"
    lines.append(f"heads: {', '.join(m.heads)}" + ("" if "s1" in m.heads else fused_only))
    for head in m.heads[1:]:
        what = "S1 only, needs no S2 pixels" if head == "s1" else "S2 only, needs no S1 pixels"
        thresholds = m.thresholds_for(head)
        lines.append(
            f"  {head} ({what}): output {m.output_name(head)}, thresholds {min(thresholds):.3f}-"
            f"{max(thresholds):.3f}; metrics: "
            + (", ".join(f"{shown(k)}={v:.4f}" for k, v in sorted(m.metrics_for(head).items())) or "none")
        )
    lines.append(
        f"precision: {m.precision}"
        + (f" ({shown(m.precision_info['method'])})" if "method" in m.precision_info else "")
    )
    if "calibration" in m.precision_info:
        c = m.precision_info["calibration"]
        lines.append(f"  calibrated on {c['patches']} {shown(c['split'])} patches")
    if m.precision_metrics:
        n = m.precision_info.get("test_patches", "?")
        lines.append(f"  metrics of this file vs the fp32 graph on the same {n} test patches:")
        lines += [
            f"  {shown(k)}: {v:.4f} {m.precision} vs {ref:.4f} fp32 ({v - ref:+.4f})"
            for k, (v, ref) in m.precision_metrics.items()
        ]
    lines.append(f"execution providers: {', '.join(model.providers)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model, threads=1)
    print(json.dumps(model.metadata.raw, indent=2) if args.json else describe(model))
    return 0
