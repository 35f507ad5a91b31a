"""The catalogue of published models (``resources/published_models.json``): each checkpoint's id, modalities,
architecture, version, licence, revision, approximate size, SHA-256 where known and published metrics; and the
combined three-head models ``<architecture>-v<version>`` wherever its S1+S2, S1-only and S2-only checkpoints exist."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .reben import HEAD_OF

CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "resources" / "published_models.json"


@dataclass(frozen=True)
class Entry:
    """One published checkpoint of the catalogue."""

    id: str
    architecture: str
    band_config: str
    modalities: str
    version: str
    licence: str
    revision: str
    approx_size_mb: float
    sha256: str | None
    published_metrics: dict = field(default_factory=dict)
    base_url: str = ""
    organisation: str = ""

    def url(self, file: str) -> str:
        """Where ``file`` (``config.json``, ``model.safetensors``) of this checkpoint is downloaded from."""
        return f"{self.base_url}/{self.organisation}/{self.id}/resolve/{self.revision}/{file}"

    @property
    def card(self) -> str:
        """The model page."""
        return f"{self.base_url}/{self.organisation}/{self.id}"


@dataclass(frozen=True)
class Catalogue:
    """The published checkpoints by id, the files of each, and the combined models by name."""

    entries: dict[str, Entry]
    files: tuple[str, ...]

    @property
    def combined(self) -> dict[str, dict[str, Entry]]:
        """``{"<architecture>-v<version>": {"fused": entry, "s1": entry, "s2": entry}}`` for every architecture and
        version with all three checkpoints."""
        groups: dict[str, dict[str, Entry]] = {}
        for entry in self.entries.values():
            groups.setdefault(f"{entry.architecture}-v{entry.version}", {})[HEAD_OF[entry.band_config]] = entry
        return {name: heads for name, heads in groups.items() if len(heads) == len(HEAD_OF)}

    def names(self) -> list[str]:
        """Every name ``mosaic models get`` accepts: combined models, then single checkpoints."""
        return [*self.combined, *self.entries]

    def resolve(self, name: str) -> dict[str, Entry]:
        """``{head: entry}`` of a combined model or ``{"fused": entry}`` of one checkpoint; :class:`InputError` for an
        unknown name."""
        if name in self.combined:
            return self.combined[name]
        if name in self.entries:
            return {"fused": self.entries[name]}
        raise InputError(f"no published model is named {name!r}; `mosaic models list` shows the names.")


def load_catalogue(path: str | os.PathLike | None = None) -> Catalogue:
    """The catalogue at ``path`` (default: the bundled ``resources/published_models.json``)."""
    path = Path(path) if path is not None else CATALOGUE_PATH
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = {
            m["id"]: Entry(
                id=m["id"],
                architecture=m["architecture"],
                band_config=m["band_config"],
                modalities=m["modalities"],
                version=m["version"],
                licence=m["licence"],
                revision=m["revision"],
                approx_size_mb=float(m["weights"]["approx_size_mb"]),
                sha256=m["weights"]["sha256"],
                published_metrics=dict(m.get("published_metrics") or {}),
                base_url=doc["base_url"].rstrip("/"),
                organisation=doc["organisation"],
            )
            for m in doc["models"]
        }
        files = tuple(doc["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a catalogue of published models ({exc}); give a valid --catalogue.") from None
    return Catalogue(entries, files)


def catalogue_rows(catalogue: Catalogue, cache: Path) -> list[dict]:
    """One row per name: combined models, then checkpoints, with whether their weights are in ``cache``."""
    out = []
    for name in catalogue.names():
        heads = catalogue.resolve(name)
        fused = heads["fused"]
        metrics = {h: e.published_metrics for h, e in heads.items()}
        out.append(
            {
                "name": name,
                "heads": {h: e.id for h, e in heads.items()},
                "modalities": fused.modalities,
                "architecture": fused.architecture,
                "version": fused.version,
                "licence": fused.licence,
                "approx_mb": round(sum(e.approx_size_mb for e in heads.values()), 1),
                "published_metrics": metrics,
                "model_pages": {h: e.card for h, e in heads.items()},
                "downloaded": all((cache / e.id / e.revision / "model.safetensors").is_file() for e in heads.values()),
            }
        )
    return out
