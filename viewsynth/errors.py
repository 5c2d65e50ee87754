"""Errors a user can cause. The CLI turns each into one line and an exit code; never a traceback."""


class ViewsynthError(Exception):
    """Base class: something about the user's input, flags, files or config is wrong.

    The message names the file or flag and what is wrong; the CLI prints it as one line and
    exits with status 2 (nothing written).
    """


class ConfigError(ViewsynthError, ValueError):
    """An unknown config key, a bad value, or a malformed YAML file (a ``ValueError`` too, as a
    script that builds settings in Python may catch it)."""


class FrameError(ViewsynthError):
    """One image or video frame cannot be used (not an image, truncated, too large, ...).

    Inside a capture such a file is skipped with a warning; given alone (``viewsynth pair``) it is fatal.
    """


class WeightsError(ViewsynthError):
    """A weights file is missing, corrupt, truncated or does not match the model."""


def one_line(err: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
