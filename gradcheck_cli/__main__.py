"""`python -m gradcheck_cli` runs the command-line tool."""

from .cli import run_command

run_command()
