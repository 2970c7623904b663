"""User-facing errors: one clear line, no deep torch traceback.

Every error a user can cause (a bad path, an unreadable image, a wrong config value, a checkpoint that
does not fit) is raised as a subclass of `RastError`; the CLI prints its message and exits with status 2.
"""


class RastError(Exception):
    """Base class of the errors the kit reports to users as one line."""


class ConfigError(RastError, ValueError):
    """A run configuration or parameter has a wrong name or value."""


class ImageError(RastError, ValueError):
    """An image file is missing, unreadable, or has an unusable size."""


class CheckpointError(RastError):
    """A checkpoint is missing, corrupt, unsafe, or does not match the model."""


class DataError(RastError):
    """A data set folder is missing or holds no usable image."""


class MetricUnavailable(RastError):
    """An optional metric cannot run here: its package, weights file or backbone is missing."""


class TrainingStopped(RastError):
    """A SIGTERM or SIGINT stopped training after a whole step, saved where that step was good (the CLI exits
    with status 130: not a failure, a rerun resumes)."""
