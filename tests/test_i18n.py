"""The Swedish catalogues are complete, compiled and in step with the source.

Public-sector staff get the interface in Swedish, so an untranslated or fuzzy string is a bug.
These checks need no gettext tools (fresh machines may lack them): the catalogues are read with
``polib`` and the source is scanned with ``ast`` and regular expressions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

ROOT = Path(settings.BASE_DIR)
LOCALE = Path(settings.LOCALE_PATHS[0]) / "sv" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
SOURCE_APPS = ("chatserver", "rooms", "presence", "statusfeed", "moderation", "web")
GETTEXT_FUNCTIONS = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def catalogue(domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / f"{domain}.po"))


def entries(domain: str) -> list[polib.POEntry]:
    return [entry for entry in catalogue(domain) if not entry.obsolete and entry.msgid]


def translations(source: polib.POFile | polib.MOFile) -> dict[tuple[str, str], tuple[str, ...]]:
    """Map (msgctxt, msgid) to its translation(s), for comparing a .po with its .mo."""
    table = {}
    for entry in source:
        if entry.obsolete or not entry.msgid or "fuzzy" in entry.flags:
            continue
        if entry.msgid_plural:
            forms = tuple(entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural))
        else:
            forms = (entry.msgstr,)
        table[(entry.msgctxt or "", entry.msgid)] = forms
    return table


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_has_a_swedish_translation_that_is_not_fuzzy(domain: str) -> None:
    problems = []
    for entry in entries(domain):
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        forms = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        if not all(form.strip() for form in forms):
            problems.append(f"untranslated: {entry.msgid!r}")
    assert not catalogue(domain).metadata_is_fuzzy, f"the {domain}.po header is marked fuzzy"
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_the_placeholders_of_the_original(domain: str) -> None:
    problems = []
    for entry in entries(domain):
        expected = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        forms = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for form in forms:
            if sorted(PLACEHOLDER.findall(form)) != expected:
                problems.append(f"{entry.msgid!r} → {form!r}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalogue_matches_the_po_file(domain: str) -> None:
    mo_path = LOCALE / f"{domain}.mo"
    assert mo_path.exists(), f"run `manage.py compilemessages`: {mo_path} is missing"
    assert translations(polib.mofile(str(mo_path))) == translations(catalogue(domain)), (
        f"{mo_path.name} is stale: run `manage.py compilemessages --ignore=.venv`"
    )


def _python_msgids() -> set[str]:
    found = set()
    for app in SOURCE_APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                first = node.args[0]
                is_text = isinstance(first, ast.Constant) and isinstance(first.value, str)
                if name in GETTEXT_FUNCTIONS and is_text and first.value:
                    found.add(first.value)
    return found


TEMPLATE_TRANSLATE = re.compile(r"""\{%\s*(?:translate|trans)\s+(["'])(.+?)\1""")
JS_GETTEXT = re.compile(r"""\b(?:gettext|ngettext)\(\s*(["'])((?:(?!\1).)+)\1""")


def _template_msgids() -> set[str]:
    found = set()
    for app in SOURCE_APPS:
        for path in (ROOT / app).rglob("templates/**/*.html"):
            found |= {match[1] for match in TEMPLATE_TRANSLATE.findall(path.read_text())}
    return found


def _javascript_msgids() -> set[str]:
    found = set()
    for app in SOURCE_APPS:
        for path in (ROOT / app).rglob("static/**/*.js"):
            if "vendor" in path.parts:
                continue
            found |= {match[1] for match in JS_GETTEXT.findall(path.read_text())}
    return found


def test_every_string_marked_in_python_and_templates_is_in_the_catalogue() -> None:
    known = {entry.msgid for entry in entries("django")}
    missing = sorted((_python_msgids() | _template_msgids()) - known)
    assert missing == [], (
        "strings missing from django.po; run `manage.py makemessages -l sv --ignore=.venv "
        "--ignore=var --ignore=tests`, translate them, then `compilemessages`:\n"
        + "\n".join(missing)
    )


def test_every_string_marked_in_javascript_is_in_the_catalogue() -> None:
    known = {entry.msgid for entry in entries("djangojs")}
    found = _javascript_msgids()
    assert "Reconnecting…" in found  # the scan itself works
    missing = sorted(found - known)
    assert missing == [], (
        "strings missing from djangojs.po; run `manage.py makemessages -d djangojs -l sv "
        "--ignore=.venv --ignore=var --ignore=tests --ignore=staticfiles`, translate them, "
        "then `compilemessages`:\n" + "\n".join(missing)
    )


def test_django_serves_the_swedish_strings_at_run_time() -> None:
    with translation.override("sv"):
        assert gettext("Sign in") == "Logga in"
        assert gettext("Sign out") == "Logga ut"
        assert gettext("You are sending too fast. Try again in a moment.").startswith(
            "Du skickar för snabbt"
        )
        assert gettext("Skip to main content") == "Hoppa till huvudinnehållet"
    with translation.override("en"):
        assert gettext("Sign in") == "Sign in"


def test_the_javascript_catalogue_serves_swedish_to_a_swedish_browser(client: Client) -> None:
    response = client.get("/jsi18n/", headers={"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    # The catalogue is JavaScript with JSON-escaped strings: decode them before comparing.
    body = re.sub(
        r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match[1], 16)), response.content.decode()
    )
    assert '"Reconnecting…": "Återansluter…"' in body
    assert '"%(count)s oläst"' in body
    assert '"%(count)s olästa"' in body
