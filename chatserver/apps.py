from __future__ import annotations

from django.apps import AppConfig


class ChatserverConfig(AppConfig):
    name = "chatserver"
    verbose_name = "Communis core"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401 - registers checks and signal receivers
        from .realtime import builtins

        builtins.register()
