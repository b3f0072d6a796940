"""People: the facts a contact card shows.  Presence and status arrive with their issue."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    department = models.CharField(_("department"), max_length=120, blank=True)
    workplace = models.CharField(_("workplace"), max_length=120, blank=True)
    title = models.CharField(_("title"), max_length=120, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.department})"
