"""The config as the running process has it now: swapped whole by a reload.

Whoever serves from the config (status pages, the board, the notifier) reads
`live.config` at the moment it needs it and never keeps a copy; `version` grows with
every swap, so caches built from the config know when they are stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from upstate.config.models import UpstateConfig


@dataclass
class LiveConfig:
    config: UpstateConfig = field(default_factory=UpstateConfig)
    version: int = 0
    path: str | None = None  # the file it came from, if any

    def swap(self, config: UpstateConfig) -> None:
        self.config = config
        self.version += 1
