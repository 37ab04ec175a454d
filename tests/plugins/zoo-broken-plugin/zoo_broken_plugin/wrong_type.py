"""Imports fine but gives the registry something that is not a list of ModelSpec."""

SPECS = {"name": "not_a_spec", "family": "cnn"}
