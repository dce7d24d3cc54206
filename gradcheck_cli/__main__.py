"""`python -m gradcheck_cli` and the `gradcheck` console script.

A Ctrl-C while the command is still importing (torch can take a second) exits 130 with one line too.  `--version`
alone is answered before anything else is imported (the command's own -V/--version gives the same text)."""

import sys


def console() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):  # answered before click and the command are imported: instant
        from .core.version import versions

        print(versions())
        sys.exit(0)
    try:
        from .cli import run_command
    except KeyboardInterrupt:
        sys.stderr.write("gradcheck: interrupted by Ctrl-C; no report was written\n")
        sys.exit(130)
    run_command()


if __name__ == "__main__":
    console()
