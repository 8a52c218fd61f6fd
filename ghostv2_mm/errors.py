"""The errors the package raises for what a user can fix: a bad argument, file or config, or a
runtime that cannot run a model on this machine. Each message is one line that names the argument
or file and what is allowed; the tools print it and exit (``tools/*``: ``except GhostV2Error``).
Nothing here imports a third-party library."""


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
    """A file that could not be written for lack of space (or a file size limit); the file it
    would have replaced is unchanged."""


def exit_on_error(main, prefix=''):
    """Run a tool's ``main``; the package's errors end it with their one line (``prefix`` +
    message; a ``DataError`` without the prefix) instead of a traceback."""
    try:
        main()
    except DataError as e:
        raise SystemExit(str(e)) from None
    except GhostV2Error as e:
        raise SystemExit(f'{prefix}{e}') from None
