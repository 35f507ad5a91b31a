"""QGIS glue of MoSAiC: dock, dialogs, background tasks, Processing provider, layer styling.

Imports QGIS and Qt only (never torch); the engine it drives lives in ``backend/inference``.
"""
