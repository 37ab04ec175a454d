"""Step 2 of the flow: what enters or leaves a machine.

Owns weights files (resolve -> fetch -> verify sha256 -> atomic cache, in
``weights``), presets on disk (``presets``: write one, read its metadata), the
provenance record a preset keeps of how its model was made (``provenance``), and
turning a preset into a pip-installable plugin (``packaging``). May import
``zoo.registry`` and ``zoo.errors``; never model building (``zoo.create`` turns
presets and weights into models). Pure Python at import time.
"""
