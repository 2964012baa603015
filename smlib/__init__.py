"""smlib: the helper package of the soil-moisture downscaling and fusion book.

Importing ``smlib`` does no work: no file reads, no downloads, no heavy imports.
Sub-modules are imported by the notebooks as they need them, for example
``from smlib import study, io, grid``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
