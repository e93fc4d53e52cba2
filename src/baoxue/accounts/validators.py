from __future__ import annotations

from django.contrib.auth import password_validation
from django.utils.translation import gettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django 5.2's Chinese catalog lacks the "too short" message (it was reworded), so the
    password page and `baoxue init` would answer in English; the message is ours instead."""

    def get_error_message(self) -> str:
        return gettext("密码太短，至少要 %(min_length)d 个字符。") % {"min_length": self.min_length}
