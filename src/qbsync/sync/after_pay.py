"""Platform payments pushed to QBO as Payments (``[payments] recorded_in = "platform"``)."""

from __future__ import annotations

from collections.abc import Callable

from qbsync.config import Config
from qbsync.state.db import State
from qbsync.sync.after_apply import AfterOutcome, QboWrites
from qbsync.sync.after_plan import AfterAction


def payer_for(
    client: QboWrites, state: State, config: Config, run_id: int | None
) -> Callable[[AfterAction, AfterOutcome], None] | None:
    if config.payments.recorded_in != "platform":
        return None
    return None
