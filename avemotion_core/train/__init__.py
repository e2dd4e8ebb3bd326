"""Training and evaluation, cut out of the learner so each piece reads in one screen.

- ``distributed``: what DDP needs (rank checks, the model wrapper, a safe all-reduce).
- ``checkpoint``: the training state on disk (atomic writes, weights-only reads, resume).
- ``batches``: a batch onto the device, and the crop-size checks that keep numbers honest.
- ``loop``: one epoch and the whole ``fit``, top to bottom.
- ``evaluate``: loss, accuracy and the confusion matrix in one eval mode.
"""
