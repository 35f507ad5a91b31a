"""Datasets, data modules' building blocks, band and class definitions, subsets and augmentations.

Kept import-light: import the sub-module you need (``mosaic.backend.data.bands`` needs nothing but Python).
"""
