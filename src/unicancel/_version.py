"""The version, in one place: pyproject.toml reads it from here (setuptools'
``attr:``, parsed without importing), so ``unicancel.__version__`` works from a
source tree too and always equals the installed metadata."""

__version__ = "0.1.0.dev0"
