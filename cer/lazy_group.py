"""A click group whose sub-commands are imported only when run, so ``--help`` stays instant.

Commands are registered as ``name -> "module:attribute"``; importing torch for ``cer --help``
would cost seconds.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            module, attr = self.lazy_commands[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


def lazy_cli(name: str, commands: dict[str, str], help: str) -> click.Group:
    """A command group ``name`` (``--help``/``-h``, ``--version``) of lazily imported ``commands``."""
    from cer import __version__

    group = LazyGroup(name=name, lazy_commands=commands, help=help,
                      context_settings={"help_option_names": ["-h", "--help"]})
    return click.version_option(__version__, prog_name=name)(group)
