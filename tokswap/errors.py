"""The one exception type the CLI turns into a single stderr line and exit code 2."""


class TokswapError(Exception):
    """Bad input or an unusable model/tokenizer: the message is shown to the user as is."""


def first_line(exc: BaseException) -> str:
    """A library exception squeezed to one line, so errors never spill a traceback's worth of text."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
