"""The http sink of `qbsync pull`: ``POST {base_url}/invoices/{invoice_id}/qbo-events``.

The event goes as JSON with ``Idempotency-Key: <event_id>`` (the platform keeps the first and
answers the same to a repeat: a run killed after the POST and before the state recorded it posts
again safely). 2xx: delivered. 4xx: refused, with the platform's reason (kept, offered again next
run). 5xx, timeouts and connection failures: retried with backoff, then left for the next run
(and the rest of this run's events wait too: the platform is not answering). Redirects are not
followed (the bearer token must not go elsewhere). Same bearer token as the http source.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import requests

from qbsync.config.pull import PullConfig
from qbsync.config.source import SourceConfig
from qbsync.sources.http_transport import TRANSPORT_ERRORS, BearerAuth, bearer_token

REASON_CHARS = 300  # of the platform's answer shown as a refusal's reason


class HttpSink:
    name = "http"

    def __init__(
        self,
        config: PullConfig,
        source: SourceConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = config.base_url or source.base_url
        assert base_url is not None  # config/pull.py checked it
        self.base_url = base_url.rstrip("/")
        self.timeout = config.timeout_seconds
        self.retries = config.retries
        self.backoff = config.backoff_seconds
        self.session = session or requests.Session()
        self.sleep = sleep
        token_env = config.token_env or source.token_env
        self._auth = BearerAuth(bearer_token(token_env)) if token_env else None

    def post(self, event: dict[str, Any]) -> tuple[str, str | None]:
        """(delivered | refused | unavailable, reason)."""
        url = f"{self.base_url}/invoices/{quote(str(event['invoice_id']), safe='')}/qbo-events"
        body = json.dumps(event, sort_keys=True)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": str(event["event_id"]),
        }
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self.session.post(
                    url,
                    data=body,
                    headers=headers,
                    auth=self._auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except TRANSPORT_ERRORS as exc:
                reason = f"{type(exc).__name__}: the platform did not answer"
                continue
            text = resp.text[:REASON_CHARS].strip()
            if 200 <= resp.status_code < 300:
                return "delivered", None
            if resp.status_code >= 500 or resp.status_code in (408, 429):
                reason = f"HTTP {resp.status_code}: {text}"
                continue
            return "refused", f"HTTP {resp.status_code}: {text}"
        return "unavailable", reason

    def deliver_each(self, events: Sequence[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
        answers: list[tuple[str, str, str | None]] = []
        for event in events:
            outcome, reason = self.post(event)
            answers.append((str(event["event_id"]), outcome, reason))
            if outcome == "unavailable":
                break
        return answers

    def close(self) -> None:
        self.session.close()
