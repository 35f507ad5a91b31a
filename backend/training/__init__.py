"""Training with Lightning: strategies (loss combinations), LightningModule, DataModule, callbacks, CLI.

``mosaic train --config configs/<strategy>.yaml`` (:mod:`.cli`); ``mosaic bench train`` (:mod:`.bench`).
"""
