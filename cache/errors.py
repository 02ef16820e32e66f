"""The one exception a user can cause through the cache: it carries a sentence to show."""


class CacheError(Exception):
    """A problem with the cache folder that the user can fix (missing, other schema, ...).

    The message is one sentence meant for the user; callers print it, never a traceback.
    """
