"""The package version (its own module, so any layer can read it without importing the package face)."""

__version__ = "0.1.0"
