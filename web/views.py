"""Pages of the browser client.  They render shells; data comes from the API and the socket."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def app(request: HttpRequest) -> HttpResponse:
    """Render the chat application shell."""
    user = request.user
    context = {
        "display_name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
        "max_message_length": settings.COMMUNIS["MAX_MESSAGE_LENGTH"],
    }
    return render(request, "web/app.html", context)
