"""Model fields shared across apps."""

from __future__ import annotations

from typing import Any

from django.db import models


class SearchKeyField(models.CharField):
    """A text column searched by prefix (names, pinyin keys, ID suffixes).

    On PostgreSQL the column uses the "C" collation: only then can a plain btree index answer
    `LIKE 'prefix%'` and return rows already in order, which keeps a county-wide name search
    on a million children an index walk instead of a scan and a sort. (Databases created with
    another collation, C.UTF-8 included, cannot.) Other backends keep their default; SQLite
    gets the same effect from `PRAGMA case_sensitive_like`.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params
