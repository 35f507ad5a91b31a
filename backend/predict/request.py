"""The typed request of one single-scene prediction: what ``mosaic predict`` parses, the scene runner builds per
scene and tests write directly."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..inference.clouds import DEFAULT_CLOUD_FRACTION
from ..inference.inspector import InputOptions

#: request fields that are no setting of a finished scene: its inputs and output folder (recorded apart), the
#: model's path (its SHA-256 is recorded), and options that change how fast, not what, the outputs are
NOT_SETTINGS = frozenset(
    {"s2", "s1", "cloud_mask", "out", "model", "threads", "provider", "batch_size", "prefetch", "show_progress"}
    | {"overwrite"}
)


@dataclass(frozen=True)
class PredictRequest:
    """One scene's prediction: inputs, model, output folder and every option of ``mosaic predict``."""

    s2: Sequence[str]  #: S2 files, one folder or a ``.SAFE`` product (empty: S1 alone, its S1-only head)
    s1: Sequence[str]  #: S1 VV and VH files or one folder (empty: S2 alone, its S2-only head)
    model: str  #: ONNX model exported by ``mosaic export``
    out: str  #: output folder
    stride: int | None = None  #: tile step in pixels (None: the model's patch size)
    batch_size: int = 16  #: tiles per onnxruntime call
    aoi: str | None = None  #: vector file of polygons; pixels outside every polygon are nodata
    max_nodata: float = 0.5  #: skip tiles with more than this fraction of nodata pixels
    overwrite: bool = False  #: replace existing outputs in ``out``
    threads: int | None = None  #: onnxruntime intra-op threads (None: all cores)
    provider: str | None = None  #: onnxruntime execution provider (``auto``, ``cpu``, ``cuda``, …; None: the CPU)
    cloud_mask: str | None = None  #: cloud layer; cloudy tiles go to the S1-only head
    cloud_fraction: float = DEFAULT_CLOUD_FRACTION  #: cloudy-or-S2-nodata fraction above which a tile goes to S1
    inputs: InputOptions = field(default_factory=InputOptions)  #: how the inputs are identified
    prefetch: bool = False  #: read the next block in a background thread while onnxruntime runs
    show_progress: bool = False  #: a progress bar on stderr

    def settings(self) -> dict:
        """Every option the outputs depend on, as JSON data (the scene runner records it with finished scenes)."""
        options = {k: v for k, v in sorted(dataclasses.asdict(self).items()) if k not in NOT_SETTINGS}
        return json.loads(json.dumps(options))

    def replace(self, **changes) -> PredictRequest:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)
