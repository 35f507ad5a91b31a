"""Class nomenclatures: the canonical order of every label vector, and class colours.

BigEarthNet 19 classes in the **original paper order** (Sumbul et al. 2020; torchgeo's order). This is the
canonical order of the 19-class label vector everywhere in MoSAiC, stored with every checkpoint and model.
reBEN code and the BIFOLD models sort the same names alphabetically: never rely on an implied order, map by name.

Colours: each 19-class name takes the official CORINE RGBA colour of the lowest CLC level-3 code that maps
to it (``resources/classes/clc_metadata.json``, copied unchanged from the reBEN pipeline, MIT / CDLA-Permissive-1.0).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

BEN19_CLASSES: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)

#: SEN12MS simplified IGBP scheme (10 classes) and the IGBP codes (1..17) summed into each.
SEN12MS_CLASSES: tuple[str, ...] = (
    "Forest",
    "Shrubland",
    "Savanna",
    "Grassland",
    "Wetlands",
    "Croplands",
    "Urban/Built-up",
    "Snow/Ice",
    "Barren",
    "Water",
)
SEN12MS_IGBP_GROUPS: dict[str, tuple[int, ...]] = {
    "Forest": (1, 2, 3, 4, 5),
    "Shrubland": (6, 7),
    "Savanna": (8, 9),
    "Grassland": (10,),
    "Wetlands": (11,),
    "Croplands": (12, 14),
    "Urban/Built-up": (13,),
    "Snow/Ice": (15,),
    "Barren": (16,),
    "Water": (17,),
}

NOMENCLATURES: dict[str, tuple[str, ...]] = {"ben19": BEN19_CLASSES, "sen12ms10": SEN12MS_CLASSES}

CLC_METADATA_PATH = Path(__file__).resolve().parents[2] / "resources" / "classes" / "clc_metadata.json"


@lru_cache(maxsize=1)
def clc_table() -> tuple[dict, ...]:
    """Rows ``{code, color [r,g,b,a], name_19, name_clc}`` of the CORINE level-3 nomenclature."""
    with open(CLC_METADATA_PATH, encoding="utf-8") as fh:
        return tuple(json.load(fh)["clc_data"])


def clc_to_ben19() -> dict[int, str | None]:
    """CORINE level-3 code (e.g. 211) → 19-class name, or ``None`` where reBEN leaves it unlabelled."""
    return {int(r["code"]): (None if r["name_19"] == "UNLABELED" else r["name_19"]) for r in clc_table()}


def ben19_colors() -> dict[str, tuple[int, int, int, int]]:
    """19-class name → RGBA colour of the lowest CORINE code mapped to it."""
    colors: dict[str, tuple[int, int, int, int]] = {}
    for row in sorted(clc_table(), key=lambda r: int(r["code"])):
        name = row["name_19"]
        if name != "UNLABELED" and name not in colors:
            colors[name] = tuple(row["color"])
    return {name: colors[name] for name in BEN19_CLASSES}


def class_colors(class_names: tuple[str, ...] | list[str]) -> list[str]:
    """``#rrggbb`` colours for ``class_names``: CORINE colours for BigEarthNet names, a fixed palette otherwise."""
    known = ben19_colors()
    fallback = (
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    )
    out = []
    for i, name in enumerate(class_names):
        if name in known:
            r, g, b, _ = known[name]
            out.append(f"#{r:02x}{g:02x}{b:02x}")
        else:
            out.append(fallback[i % len(fallback)])
    return out
