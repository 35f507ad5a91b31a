"""Scoring trained models: ``mosaic evaluate`` (:mod:`.evaluate`, its report :mod:`.report`) and the paper's
matrix of trainings and evaluations, ``mosaic experiment`` (:mod:`.experiment`, its tables :mod:`.tables`)."""
