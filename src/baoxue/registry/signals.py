"""What the registry tells the apps above it (they connect in their AppConfig.ready(); the
registry and the imports below know none of them)."""

from __future__ import annotations

from django.dispatch import Signal

# Children of these townships may have moved (a roster to another village, a 学籍 to another
# school): sent inside the transaction that moved them, with `township_ids`. Cases follow
# their children (cases.services.follow_children).
children_moved = Signal()
