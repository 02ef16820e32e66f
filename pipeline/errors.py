"""How the command-line tools stop: `UserError` for problems a user can cause and fix (a
wrong path, flag or checkpoint), and SIGTERM unwinding like Ctrl-C."""

import signal


class UserError(Exception):
    """Its message is one sentence naming the problem and the fix; shown without a traceback."""


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so a killed run unwinds and removes its temporaries."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
