"""`python -m gradcheck_cli` and the `gradcheck` console script.

A Ctrl-C while the command is still importing (torch can take a second) exits 130 with one line too."""

import sys


def console() -> None:
    try:
        from .cli import run_command
    except KeyboardInterrupt:
        sys.stderr.write("gradcheck: interrupted by Ctrl-C; no report was written\n")
        sys.exit(130)
    run_command()


if __name__ == "__main__":
    console()
