"""The one exception type for user mistakes.

Raise UserError with a sentence that says what was wrong and what to do instead; the command
line prints it on one line and exits with status 2, with no traceback.
"""


class UserError(Exception):
    pass


def warn(message: str) -> None:
    """A setting that is allowed but probably not meant: one line on stderr, and the run goes on."""
    import sys

    print(f"warning: {message}", file=sys.stderr, flush=True)


def config_from_options(cls, options):
    """Build the config dataclass `cls` from parsed command-line options (anything indexable by
    field name). Its validation in __post_init__ raises ValueError; that becomes a UserError."""
    import dataclasses

    try:
        return cls(**{f.name: options[f.name] for f in dataclasses.fields(cls) if f.name in options})
    except (ValueError, TypeError) as e:
        raise UserError(f"invalid config: {e}") from None
