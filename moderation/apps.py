from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModerationConfig(AppConfig):
    """Flags, the review queue, the audit log and moderated Q&A; built by their own issues."""

    name = "moderation"
    verbose_name = _("Moderation")
