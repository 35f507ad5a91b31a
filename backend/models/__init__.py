"""Networks: per-modality timm encoders, input normalisation, S1+S2 fusion, projection heads, classifier.

:class:`~mosaic.backend.models.network.MosaicNet` is the whole network; the training strategies pick which
heads they use. :class:`~mosaic.backend.models.network.InferenceModel` is the exported part
(``forward(s2, s1) -> probabilities``).
"""
