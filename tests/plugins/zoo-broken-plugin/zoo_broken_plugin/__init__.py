"""Test plugin that cannot load (see pyproject.toml)."""
