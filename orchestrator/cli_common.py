"""What every sub-command shares: the stderr console and the rule that turns bad input
into one line on stderr and exit code 2 (README.md, "Commands")."""
from __future__ import annotations

import functools
from typing import Callable

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.errors import UserInputError

err = Console(stderr=True)


def _flags_show_no_type() -> None:
    """Typer's rich help prints ``--dry-run <bool>`` for a plain flag, which reads as if the
    flag took a value (``--dry-run true`` is refused); a flag is shown bare."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "paretoctl_flags_bare", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.paretoctl_flags_bare = True
    TyperOption.display_type_rich = display_type_rich


_flags_show_no_type()


def _usage_errors_in_one_line() -> None:
    """Typer prints a wrong flag or command as a usage line, a hint and a boxed panel; like
    every other bad input it is one line on stderr (exit code 2 is Click's already)."""
    from typer import rich_utils

    if getattr(rich_utils.rich_format_error, "paretoctl_one_line", False):
        return

    def one_line(error) -> None:
        if error.__class__.__name__ == "NoArgsIsHelpError":  # the help was printed
            return
        ctx = getattr(error, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = " ".join(error.format_message().split())
        err.print(f"[red]error:[/red] {escape(message)}{escape(hint)}", highlight=False,
                  soft_wrap=True)

    one_line.paretoctl_one_line = True
    rich_utils.rich_format_error = one_line


_usage_errors_in_one_line()


def user_errors(command: Callable) -> Callable:
    """Bad input (spec, flags, store URL, unknown or missing data): one line, exit 2.

    Only the tool's own bad-input errors are caught; anything else is a bug and keeps
    its traceback. The message is escaped: it quotes user text, which rich would
    otherwise read as markup (``[nan, nan]`` vanished), and any password in it is masked."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from store.errors import StoreError, mask_credentials
        from trainers.errors import DataError

        try:
            return command(*args, **kwargs)
        except (UserInputError, StoreError, DataError) as exc:
            err.print(f"[red]error:[/red] {escape(mask_credentials(str(exc)))}",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper
