"""One exception type for bad input, so entry points can print it as one line."""


class PipelineError(Exception):
    """Bad input or configuration; the message names the file or config key."""
