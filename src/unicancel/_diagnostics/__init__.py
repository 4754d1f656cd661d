"""Diagnostics engine (issue 13); the public API is :mod:`unicancel.diagnostics`."""
