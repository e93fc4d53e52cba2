"""No English in the Chinese interface: the admin (系统配置) with its third-party apps, and the
language menu, which names each language in its own words."""

from __future__ import annotations

import re

from django.urls import reverse


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<[^>]*class="[^"]*visually-hidden[^"]*"[^>]*>.*?</[^>]+>', " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_admin_is_chinese_with_the_chinese_interface(login):
    page = visible_text(login("admin").get(reverse("admin:index")).content.decode())

    assert "保学 · 系统配置" in page
    assert "登录保护" in page and "登录失败记录" in page and "后台任务" in page
    for english in ("Django", "Axes", "Access attempts", "Tasks Database Backend", "Task Result"):
        assert english not in page


def test_the_language_menu_names_each_language_in_its_own_words(login):
    page = login("office").get(reverse("registry:child_list")).content.decode()

    menu = re.search(r'<select name="language".*?</select>', page, flags=re.S)
    assert menu is not None
    options = re.findall(r"<option [^>]*>([^<]*)</option>", menu.group(0))
    assert options == ["简体中文", "English"]
    assert "英语" not in page and 'aria-label="Language"' not in page


def test_an_accounts_own_fields_are_headed_in_chinese(login, persona):
    url = reverse("admin:accounts_user_change", args=[persona("office").pk])

    page = visible_text(login("admin").get(url).content.decode())

    assert "姓名、电话与单位" in page and "Baoxue" not in page
