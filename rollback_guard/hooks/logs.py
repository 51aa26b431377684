"""Structured logs: one JSON object per line, so CloudWatch Logs Insights can filter on any field."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("rollback-guard.hooks")
logger.setLevel(logging.INFO)


def log(level: int, message: str, *, exc_info: BaseException | None = None, **fields: Any) -> None:
    logger.log(level, json.dumps({"message": message, **fields}, default=str), exc_info=exc_info)
