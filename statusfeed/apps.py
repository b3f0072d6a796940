from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StatusfeedConfig(AppConfig):
    """The live timeline (status updates, news, documents); built by its own issue."""

    name = "statusfeed"
    verbose_name = _("Timeline")
