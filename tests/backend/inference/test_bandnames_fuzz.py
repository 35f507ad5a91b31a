"""Fuzzing :func:`recognise_band`: never raises, answers None or one of the given bands, and round-trips.

The plugin's band guessing (``plugin/band_mapping.py``) calls this same function on band descriptions, file
names and layer names, so these properties cover it too.
"""

from __future__ import annotations

import string

from hypothesis import assume, example, given
from hypothesis import strategies as st

from mosaic.backend.data.bands import S1_BANDS, S2_BANDS_ALL
from mosaic.backend.inference.bandnames import KNOWN_BANDS, normalise_band_token, recognise_band

BANDS = (*S2_BANDS_ALL, *S1_BANDS)
SAFE = string.ascii_letters + string.digits + "_-."
safe_text = st.text(alphabet=SAFE, max_size=40)
band_lists = st.lists(st.sampled_from(KNOWN_BANDS), unique=True, max_size=len(KNOWN_BANDS))
extensions = st.sampled_from([".tif", ".TIF", ".tiff", ".jp2", ".vrt", ".img", ""])
folders = st.sampled_from(["", "/data/s2/", "C:\\data\\B03\\", "../B04/", "rel/dir_B8A/"])


def _band_tokens(text: str) -> set[str]:
    """The bands that ``_``/``-``/``.``-separated tokens of ``text`` name."""
    return {normalise_band_token(t) for t in text.replace("-", "_").replace(".", "_").split("_")} - {None}


@given(st.text(), band_lists)
@example("x_B\u0662.tif", ["B02"])  # an Arabic-Indic digit is not a band number
@example("x_B02\n", ["B02"])
@example("\x00/\\..._-", ["B02"])
def test_never_raises_and_answers_a_given_band(name, bands):
    found = recognise_band(name, bands)
    assert found is None or found in bands


def test_lookalikes_are_no_bands():
    assert recognise_band("x_B\u0662.tif", KNOWN_BANDS) is None  # Arabic-Indic digit two
    assert recognise_band("x_B02\n", KNOWN_BANDS) is None
    assert recognise_band("x_\uff22\uff10\uff12.tif", KNOWN_BANDS) is None  # fullwidth B02
    assert recognise_band("C:\\scenes\\T33UUP\\B02.tif", KNOWN_BANDS) == "B02"  # Windows path


@given(folders, safe_text, st.sampled_from(BANDS), extensions, st.sampled_from(["lower", "upper", "as is"]))
def test_round_trip_with_any_prefix(folder, prefix, band, ext, case):
    name = f"{prefix}_{band}{ext}"
    name = {"lower": name.lower(), "upper": name.upper(), "as is": name}[case]  # documented: case-insensitive
    assert recognise_band(folder + name, BANDS) == band


@given(safe_text, st.sampled_from(BANDS), safe_text, extensions)
def test_round_trip_with_a_suffix_that_names_no_band(prefix, band, suffix, ext):
    assume(not _band_tokens(suffix))
    assert recognise_band(f"{prefix}_{band}_{suffix}{ext}", BANDS) == band


@given(folders, safe_text, extensions)
def test_folders_never_name_the_band(folder, stem, ext):
    assume(not _band_tokens(stem))
    assert recognise_band(f"{folder}{stem}{ext}", BANDS) is None


@given(safe_text, st.sampled_from(["B8", "B08", "B8A", "b8a", "B1", "B01", "B11", "B12"]), extensions)
def test_b8_b8a_and_b1_b11_b12_are_never_confused(prefix, token, ext):
    expected = normalise_band_token(token)
    assert expected in {"B08", "B8A", "B01", "B11", "B12"}
    name = f"{prefix}_{token}{ext}"
    assert recognise_band(name, BANDS) == expected
    others = tuple(b for b in BANDS if b != expected)
    assert recognise_band(name, others) in {None} | _band_tokens(prefix)


@given(st.sampled_from(BANDS))
def test_short_forms_and_leading_zeros(band):
    short = band if not band[1:].isdigit() else f"B{int(band[1:])}"  # B02 → B2, B11 → B11
    assert recognise_band(f"{short}.tif", BANDS) == band
    assert recognise_band(f"{short.lower()}.tif", BANDS) == band
