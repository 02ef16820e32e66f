"""The exception for problems a user can cause and fix (a wrong path, flag or checkpoint)."""


class UserError(Exception):
    """Its message is one sentence naming the problem and the fix; shown without a traceback."""
