"""onnxruntime execution providers: what the installed onnxruntime offers, what a run asks for, what it used.

The providers come from the onnxruntime that is installed (``onnxruntime.get_available_providers()``): the CPU
build has ``CPUExecutionProvider`` (and Azure's, which runs nothing locally), ``onnxruntime-gpu`` adds
``CUDAExecutionProvider`` and ``TensorrtExecutionProvider``. A run asks for providers by name or alias
(:data:`ALIASES`: ``cpu``, ``cuda``, ``tensorrt``, ``directml``, ``coreml``, ``openvino``, ``rocm``) or ``auto`` (the
best GPU provider there is, else the CPU). A requested provider the installed onnxruntime lacks is **not** an error:
the run falls back to the CPU and :attr:`ProviderPlan.note` says so in one sentence (how to get the GPU build).
onnxruntime itself may also drop a provider it has but cannot start (CUDA or cuDNN libraries missing): the session's
own list (:attr:`~.model.OnnxModel.providers`) is what a run used, and :func:`fallback_note` compares it with the
request. ``CPUExecutionProvider`` is always last, so every node can run.

:func:`onnxruntime_package` decides, from a probe of the machine's NVIDIA driver, which onnxruntime build an
installer should offer (pure: the probe is the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
#: short names accepted wherever a provider is asked for (``--provider cuda``)
ALIASES = {
    "cpu": CPU,
    "cuda": CUDA,
    "tensorrt": TENSORRT,
    "rocm": "ROCMExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
AUTO = "auto"  #: the best accelerator the installed onnxruntime has, else the CPU
#: accelerators in the order ``auto`` prefers them (TensorRT builds engines for minutes first: not automatic)
ACCELERATORS = (CUDA, "ROCMExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
#: providers that run nothing on this machine (Azure's sends requests to a remote endpoint)
REMOTE = ("AzureExecutionProvider",)


def available_providers() -> list[str]:
    """The execution providers of the installed onnxruntime, best first (``onnxruntime.get_available_providers()``)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def local_providers(available: Sequence[str]) -> list[str]:
    """``available`` without the remote ones: what a user can choose to run on."""
    return [p for p in available if p not in REMOTE]


def provider_name(name: str) -> str:
    """``"cuda"`` → ``"CUDAExecutionProvider"``; full names and ``auto`` pass through."""
    return ALIASES.get(name.strip().lower(), name.strip())


@dataclass(frozen=True)
class ProviderPlan:
    """The providers a session is created with (``use``, CPU last) for a request, and those requested that the
    installed onnxruntime lacks (``missing``)."""

    requested: tuple[str, ...]
    use: tuple[str, ...]
    missing: tuple[str, ...]
    available: tuple[str, ...]

    @property
    def note(self) -> str | None:
        """One sentence when a requested provider is missing and the run falls back (None otherwise)."""
        if not self.missing:
            return None
        return (
            f"{' and '.join(self.missing)} {'is' if len(self.missing) == 1 else 'are'} not in this onnxruntime "
            f"(it has {', '.join(local_providers(self.available))}), so the model runs on "
            f"{', '.join(self.use)}; {_gpu_hint(self.missing)}"
        )


def _gpu_hint(missing: Sequence[str]) -> str:
    if CUDA in missing or TENSORRT in missing:
        return "install onnxruntime-gpu (and the NVIDIA CUDA 12 and cuDNN 9 libraries) to use the GPU."
    return "install the onnxruntime build that has it."


def plan_providers(requested: Sequence[str] | str | None, available: Sequence[str]) -> ProviderPlan:
    """Providers for a session: the requested ones the installed onnxruntime has, then the CPU; ``auto`` (or
    ``["auto"]``) picks the first of :data:`ACCELERATORS` available; None or empty: the CPU."""
    names = [requested] if isinstance(requested, str) else list(requested or [])
    wanted: list[str] = []
    for name in map(provider_name, names):
        if name == AUTO:
            wanted += [p for p in ACCELERATORS if p in available][:1]
        elif name not in wanted:
            wanted.append(name)
    missing = tuple(p for p in wanted if p not in available)
    use = (*(p for p in wanted if p in available and p != CPU), CPU)
    return ProviderPlan(tuple(names), use, missing, tuple(available))


def fallback_note(plan: ProviderPlan, used: Sequence[str]) -> str | None:
    """What to tell the user about the providers a session really has (``used``: ``session.get_providers()``):
    the plan's note for providers the installed onnxruntime lacks, else a note for those it could not start."""
    if plan.note:
        return plan.note
    dropped = [p for p in plan.use if p not in used]
    if not dropped:
        return None
    return (
        f"onnxruntime could not start {' and '.join(dropped)} (its libraries are missing or do not match this "
        f"driver), so the model runs on {', '.join(used)}; {_gpu_hint(dropped)}"
    )


def describe(used: Sequence[str]) -> str:
    """``"GPU (CUDAExecutionProvider)"`` or ``"CPU (CPUExecutionProvider)"``: the first provider a session has."""
    first = used[0] if used else CPU
    return f"{'CPU' if first == CPU else 'GPU'} ({first})"


@dataclass(frozen=True)
class DriverProbe:
    """What a probe of the machine found (``nvidia-smi`` or the driver library): the platform (``sys.platform``), the
    NVIDIA driver version (None: no NVIDIA driver) and the highest CUDA version it supports (``12.4``)."""

    platform: str
    driver: str | None = None
    cuda: str | None = None


@dataclass(frozen=True)
class PackageChoice:
    """The onnxruntime build to install (a pip requirement name) and why, in one sentence."""

    package: str
    reason: str


ORT_GPU_MIN_CUDA = (12, 0)  #: onnxruntime-gpu's wheels on PyPI are built for CUDA 12


def onnxruntime_package(probe: DriverProbe) -> PackageChoice:
    """``onnxruntime-gpu`` on Linux and Windows with an NVIDIA driver that supports CUDA 12 or later, else
    ``onnxruntime`` (the CPU build; macOS has no CUDA, and its CPU build carries CoreML)."""
    if probe.platform == "darwin":
        return PackageChoice("onnxruntime", "macOS has no CUDA; the CPU build (with CoreML) is the one to install.")
    if probe.driver is None:
        return PackageChoice("onnxruntime", "no NVIDIA driver was found, so the CPU build is installed.")
    cuda = _version(probe.cuda)
    if cuda is None or cuda < ORT_GPU_MIN_CUDA:
        return PackageChoice(
            "onnxruntime",
            f"the NVIDIA driver {probe.driver} supports CUDA {probe.cuda or 'unknown'}, but onnxruntime-gpu needs "
            "CUDA 12; update the driver for the GPU build. The CPU build is installed.",
        )
    return PackageChoice(
        "onnxruntime-gpu",
        f"NVIDIA driver {probe.driver} (CUDA {probe.cuda}) found: the GPU build runs the model on the graphics card "
        "and falls back to the CPU where it cannot.",
    )


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in text.split(".")[:2]) if text else None
    except ValueError:
        return None
