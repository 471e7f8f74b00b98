"""The one exception type for bad input and unusable state: the CLI prints its message and exits 2."""


class GristmillError(Exception):
    """A user-facing error: the message says what is wrong and, where possible, how to fix it."""
