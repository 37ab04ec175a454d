"""The built-in model families, one spec table (``cnn``, ``rnn``, ``autoencoder``,
registered through the ``zoo.models`` entry points like any plugin) and one
builder module each. Spec tables import only ``zoo.registry``; builders import
``zoo.layers`` and keras. Nothing here imports the factory, hub or training."""
