"""What the cases tell the apps above them (connected in their AppConfig.ready())."""

from __future__ import annotations

from django.dispatch import Signal

# A case was dismissed with proof (在外地就读, 迁出, 死亡, …): sent inside its transaction with
# `case`. The reconciliation moves the child's category in its latest run at once.
case_dismissed = Signal()
