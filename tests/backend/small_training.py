"""The ``mosaic train`` options of a small, fast run on the bundled real sample (tests only)."""

#: every label, batches of 6, no loader workers, ResNet-18 encoders and a 64-wide fusion layer
SMALL_RUN = (
    "--protocol.label_fraction",
    "null",
    "--protocol.batch_size",
    "6",
    "--data.num_workers",
    "0",
    "--model.backbone",
    "resnet18",
    "--model.fusion_dim",
    "64",
)
