"""Exception types of hwsim.

Every error that bad input can cause is a :class:`HwsimError`; the CLI turns it into one
``error:`` line on stderr and exit status 2. Each message names the file, node or key at fault.
"""

from __future__ import annotations


class HwsimError(Exception):
    """Base class of every error hwsim raises on purpose (bad input, unsupported model)."""


class ModelError(HwsimError):
    """A model file is missing, unreadable, malformed or unsafe."""


class UnsupportedOpError(HwsimError):
    """An operator the frontend or backend cannot handle (raised in strict mode)."""


class ConfigError(HwsimError):
    """An invalid option, configuration key or value."""


class ReportError(HwsimError):
    """A vendor report or measurement file is missing, corrupt or cannot be paired."""


class BackendError(HwsimError):
    """An unknown backend, or a backend that cannot cost the graph as configured."""


class OptionalDependencyError(HwsimError):
    """A feature needs an optional package (an extra) that is not installed."""
