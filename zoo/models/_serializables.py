"""Importing this registers every serializable zoo layer with Keras, so that
configs and .keras files naming them deserialize in a fresh process."""

import zoo.layers  # noqa: F401  (BiasActivation, FusedDense)
import zoo.models._layers  # noqa: F401  (family-specific layers such as VAESampling)
