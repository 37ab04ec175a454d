"""Former path of ``zoo.training.recipes``: ``import zoo.recipes`` keeps working."""

from zoo.training.recipes import SemiSupervisedResult, encoder_classifier, semi_supervised  # noqa: F401
