"""The errors the package raises for what a user can fix, each a one-line message naming the
argument or file and what is allowed, which the tools print before exiting. No third-party
imports here."""


class GhostV2Error(Exception):
    """Base class of the package's errors."""


class RuntimeCrash(GhostV2Error, RuntimeError):
    """A runtime killed the process that ran a model (a fault in its kernels)."""


class DeployError(GhostV2Error, ValueError):
    """A bad deployment: its configs, files, directory or input."""


class ConfigError(GhostV2Error, ValueError):
    """A config value or argument the package cannot use."""


class DataError(GhostV2Error, OSError):
    """A dataset file or folder that is missing, or a path in the way of one."""


class CheckpointError(GhostV2Error, ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file."""


class DiskFullError(GhostV2Error, OSError):
    """A file not written for lack of space or a size limit; the file it would replace is kept."""


def exit_on_error(main, prefix=''):
    """Run a tool's ``main``; the package's errors end it with their one line (``prefix`` +
    message; a ``DataError`` without the prefix) instead of a traceback."""
    try:
        main()
    except GhostV2Error as e:
        raise SystemExit(str(e) if isinstance(e, DataError) else f'{prefix}{e}') from None
