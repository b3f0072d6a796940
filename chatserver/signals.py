"""Authentication is not a one-time event: close sockets when access ends."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .realtime.publish import close_user_sockets


@receiver(user_logged_out)
def close_sockets_on_logout(sender: Any, user: Any, **kwargs: Any) -> None:
    """Sign-out on any device closes every socket of that person."""
    if user is not None and user.pk:
        close_user_sockets(user.pk)


@receiver(pre_save, sender=get_user_model())
def close_sockets_on_lost_access(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Deactivation or a password change closes every socket of that person."""
    if not instance.pk:
        return
    previous = sender.objects.filter(pk=instance.pk).values("is_active", "password").first()
    if previous is None:
        return
    lost_access = previous["is_active"] and not instance.is_active
    if lost_access or previous["password"] != instance.password:
        user_id = instance.pk
        transaction.on_commit(lambda: close_user_sockets(user_id), robust=True)
