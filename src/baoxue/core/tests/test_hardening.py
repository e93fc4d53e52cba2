"""Issue 22 §8: the Content-Security-Policy, no-store on personal pages, no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

TEMPLATES = Path(settings.BASE_DIR) / "templates"

EXPECTED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",  # blob: the visit app's photo previews
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in parts}


@pytest.mark.parametrize("persona_name", ["anonymous", "village_a", "office"])
def test_every_page_carries_the_policy(world, client, persona, persona_name):
    if persona_name != "anonymous":
        client.force_login(persona(persona_name))
    url = reverse("accounts:login" if persona_name == "anonymous" else "registry:child_list")
    response = client.get(url)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert {name: policy.get(name) for name in EXPECTED_DIRECTIVES} == EXPECTED_DIRECTIVES
    # Nothing in the policy lets an injected script or style attribute run.
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_a_signed_in_page_is_not_stored_and_a_static_file_is(world, client, persona):
    client.force_login(persona("village_a"))
    page = client.get(reverse("registry:child_list"))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    static = client.get(settings.STATIC_URL + "baoxue/baoxue.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
    static.close()


def test_a_download_is_not_stored_either(world, client, persona):
    client.force_login(persona("office"))
    response = client.get(reverse("registry:discrepancy_export"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "no-store" in response["Cache-Control"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)


def test_templates_have_no_inline_script_or_style_attribute():
    """The policy would block them: behaviour goes in static/baoxue/baoxue.js (data-confirm,
    data-autosubmit, data-disable-on-submit, data-select-all, data-width-percent), sizes in
    baoxue.css."""
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, HANDLER, STYLE_ATTRIBUTE):
            found += [
                f"{template.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)
            ]
    assert found == []


@pytest.mark.slow
def test_init_refuses_a_weak_password_with_a_message(tmp_path):
    from baoxue.tests.test_cli import run

    data_dir = tmp_path / "instance"
    result = run(
        "init",
        "--data-dir",
        str(data_dir),
        "--township-code",
        "450225212",
        "--township-name",
        "培秀苗族乡",
        "--admin-username",
        "peixiu",
        "--admin-password",
        "peixiu1",
        data_dir=data_dir,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "管理员密码太弱" in result.stderr
    assert "太相似" in result.stderr  # like the username
    assert "太短" in result.stderr
    # Nothing was created: a second try with a good password succeeds.
    again = run(
        "init",
        "--data-dir",
        str(data_dir),
        "--township-code",
        "450225212",
        "--township-name",
        "培秀苗族乡",
        "--admin-username",
        "peixiu",
        "--admin-password",
        "qingshan-lvshui-2025",
        data_dir=data_dir,
    )
    assert again.returncode == 0, again.stderr
