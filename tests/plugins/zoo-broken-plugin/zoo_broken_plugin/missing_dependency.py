"""Fails at import, as a plugin does when one of its dependencies is missing."""

import zoo_dependency_that_is_not_installed  # noqa: F401

SPECS = []
