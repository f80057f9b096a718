"""Exceptions for bad input. CLIs turn any `UserError` into one line and exit code 2."""


class UserError(Exception):
    """Something the user gave us is wrong (a path, a key, a value); the message says what."""


class ConfigError(UserError):
    """An unknown key, a wrong type or a bad value in a YAML config or a --set override."""


class CheckpointError(UserError):
    """A weights file that is missing, unreadable or does not fit the model."""


class DataError(UserError):
    """A dataset, annotation, video or prediction file that is missing or malformed."""
