"""The one exception type for user mistakes.

Raise UserError with a sentence that says what was wrong and what to do instead; the command
line prints it on one line and exits with status 2, with no traceback.
"""


class UserError(Exception):
    pass
