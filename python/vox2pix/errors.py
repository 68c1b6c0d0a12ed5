"""The exceptions vox2pix raises. Every one is a :class:`Vox2pixError`; each also derives from the built-in
exception a Python user would catch for that problem (``ValueError``, ``FileNotFoundError``, ``RuntimeError``).
The message is the command-line tool's: it names the file or field and says what to do.

A stop requested with Ctrl-C (or by a progress callback returning ``False``) raises the built-in
``KeyboardInterrupt``, with a message saying what the run kept.
"""


class Vox2pixError(Exception):
    """Base class of every vox2pix error."""


class ConfigError(Vox2pixError, ValueError):
    """A training config that cannot be used: unknown preset or key, a value out of range."""


class DataError(Vox2pixError, ValueError):
    """A dataset or data file that cannot be used: damaged, wrong shapes or dtypes, NaNs, mismatched counts."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset, data file or image folder that does not exist."""


class RunError(Vox2pixError):
    """A run folder that cannot be used: not finished, corrupt, of the wrong kind, or for other data."""


class RunNotFoundError(RunError, FileNotFoundError):
    """A run folder that does not exist or holds no vox2pix run."""


class InputError(Vox2pixError, ValueError):
    """An array passed to vox2pix with the wrong shape, dtype or values (NaN/Inf), or another bad argument."""


class TrainingError(Vox2pixError, RuntimeError):
    """Training stopped: the loss became NaN, the output folder holds another run, the config and run differ."""


__all__ = [
    "Vox2pixError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "RunError",
    "RunNotFoundError",
    "InputError",
    "TrainingError",
]
