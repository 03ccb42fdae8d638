"""How the command line reports an error: one line, and an exit status."""

from __future__ import annotations

#: Exit status of a command that failed (argparse exits with 2 for bad arguments).
EXIT_ERROR = 1
#: Exit status after Ctrl-C, the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130

# Errors whose message is written for the user; any other type is named in the line too.
_EXPLAINED = (ValueError, OSError, RuntimeError, ImportError)


def one_line(error: BaseException) -> str:
    """The message of `error` on one line, naming its type when the message may not say."""
    text = " ".join(str(error).split())
    if isinstance(error, (FileNotFoundError, NotADirectoryError)) and not text:
        text = "file not found"
    if not isinstance(error, _EXPLAINED):
        return f"{type(error).__name__}: {text} (run with --debug for the traceback)"
    return text or type(error).__name__
