"""Exceptions with one-line messages that name what was wrong and the rule it broke."""


class SmlibError(Exception):
    """Base class of every error smlib raises on purpose."""


class StudyError(SmlibError, ValueError):
    """A study file (or a ``--set`` override) is invalid: the message names the key and the rule."""


class InputError(SmlibError, FileNotFoundError):
    """A canonical input or product is missing or does not hold what it should."""


class DataError(SmlibError, ValueError):
    """Data are present but unusable: no valid pixels, an empty period, a non-dividing resolution..."""


class RunError(SmlibError, RuntimeError):
    """A pipeline stage failed: the message names the notebook and the failing cell."""
