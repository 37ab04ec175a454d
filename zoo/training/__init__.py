"""Step 5 of the flow: training a model the factory made.

Owns fine-tuning (``finetune``: re-head, freeze/unfreeze, two-phase fit), its
data adapters (``data``), distribution strategies and crash-recovery backups
(``distribute``), and recipes built from them (``recipes``). May import
``zoo.create``, ``zoo.hub``, ``zoo.layers`` and below; only ``zoo.cli`` imports it.
"""
