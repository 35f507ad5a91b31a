"""Hypothesis profiles for the fuzz tests: ``ci`` (default) is derandomised, so every run tries the same inputs.

Select another with ``HYPOTHESIS_PROFILE=dev`` (random inputs, more examples) for a longer local hunt.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
