"""The published BigEarthNet v2.0 (reBEN) models: facts (:mod:`.reben`), reading a published checkpoint
(:mod:`.checkpoint`), the inference graph of one or several checkpoints (:mod:`.heads`), import to an ONNX model of
this project (:mod:`.importer`, ``mosaic import reben``), the catalogue and downloads (:mod:`.catalogue`,
:mod:`.download`, ``mosaic models``) and MoSAiC encoders initialised from published weights (:mod:`.encoders`).

Nothing here is imported by the inference engine: an imported model is an ordinary ONNX model of schema v3.
"""
