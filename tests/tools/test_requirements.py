"""The pins: numpy apart from the rest, one file per numpy major, matching what each file says it is for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"


def _pins(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def test_numpy_is_pinned_only_in_its_own_files():
    assert not [p for p in _pins(REQUIREMENTS / "constraints.txt") if re.match(r"numpy\b", p, re.IGNORECASE)]
    assert _pins(REQUIREMENTS / "numpy1.txt") == ["numpy==1.26.4"]
    numpy2 = _pins(REQUIREMENTS / "numpy2.txt")
    assert numpy2 and all(re.fullmatch(r'numpy==2\.\d+\.\d+; python_version [<>=]+ "3\.\d+"', p) for p in numpy2)


def test_setup_picks_the_numpy_file_of_the_system_numpy():
    """tools/setup_env.sh reads the major version of Debian's numpy (which GDAL and QGIS are built against)."""
    script = (ROOT / "tools" / "setup_env.sh").read_text(encoding="utf-8")
    line = next(line for line in script.splitlines() if line.startswith("numpy_major="))
    major = subprocess.run(["bash", "-c", f"{line}; echo $numpy_major"], capture_output=True, text=True, check=True)
    system = subprocess.run(
        ["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert major.stdout.strip() == system.split(".")[0]
    assert '-c "$numpy_pins"' in script
