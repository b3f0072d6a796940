"""Pages of the browser client.  They render shells; data comes from the API and the socket."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def app(request: HttpRequest) -> HttpResponse:
    """The chat application shell."""
    return render(request, "web/app.html")
