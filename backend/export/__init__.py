"""From a training checkpoint to an ONNX model that carries its metadata (``mosaic export``): the metadata
(:mod:`.metadata`), the file (:mod:`.onnx_file`), fp16 / int8 copies (:mod:`.precision`), the checkpoint route
(:mod:`.from_checkpoint`) and ``mosaic inspect`` (:mod:`.inspection`)."""
