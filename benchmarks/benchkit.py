"""What bench_members.py and bench_export.py share: an emulator in its own process, a qbsync
profile connected to it over the admin API, and runs measured in fresh child processes.

- ``EmulatorProcess``: ``python -m qbsync emulator serve --port 0 --seed FILE --time-scale X``
  (QBO's limits on), steered over its admin API (``/_emulator/...``). Its CPU is read from /proc,
  so the benchmark process's own CPU and memory are qbsync's (or the naive script's) alone.
- ``connect_profile``: what ``tests/testkit.py`` does, over HTTP: register an OAuth client, write
  a config file, store the secret and freshly issued tokens in the 0600 file store.
- ``run_measured``: one run in a fresh ``spawn`` child, so ``ru_maxrss`` is that run's peak and
  the getrusage deltas are its CPU; optionally under cProfile or tracemalloc (``--profile``).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import math
import multiprocessing
import os
import pstats
import re
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from qbsync.auth.credentials import open_store
from qbsync.auth.token_endpoint import token_set_from_response
from qbsync.auth.tokens import token_manager_for
from qbsync.config import Config, load_config, write_config
from qbsync.qbo.client import QboClient, RetryPolicy
from qbsync.state.db import State

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-not-real"
REDIRECT_URI = "http://localhost:8765/callback"
API_PATHS = "/v3/company/*"  # the request log's filter for QBO API calls (not OAuth, not admin)
_READY = re.compile(r"QBO emulator listening on (http://\S+)")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class EmulatorProcess:
    """The emulator as a child process; ``with EmulatorProcess(seed, workdir, time_scale=30):``."""

    def __init__(self, seed: Path, workdir: Path, *, time_scale: float, limits: bool = True):
        self.seed = seed
        self.workdir = workdir
        self.time_scale = time_scale
        self.limits = limits
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = requests.Session()
        self.clock_offset = timedelta(0)  # how far the emulator's clock was moved ahead

    def __enter__(self) -> EmulatorProcess:
        out = self.workdir / "emulator.out"
        argv = [sys.executable, "-m", "qbsync", "emulator", "serve", "--port", "0"]
        argv += ["--seed", str(self.seed), "--time-scale", f"{self.time_scale:g}"]
        if not self.limits:
            argv.append("--no-limits")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with out.open("wb") as sink:
            self._proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = _READY.search(out.read_text("utf-8", "replace"))
            if found:
                self.base_url = found.group(1)
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"the emulator did not start:\n{out.read_text('utf-8', 'replace')}")

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def admin(self, method: str, name: str, body: object = None, **params: str) -> Any:
        resp = self._http.request(
            method, f"{self.base_url}/_emulator/{name}", json=body, params=params, timeout=120
        )
        resp.raise_for_status()
        return resp.json()

    @property
    def realm_id(self) -> str:
        return str(self.admin("GET", "health")["realm_id"])

    def api_requests(self) -> list[dict[str, Any]]:
        """QBO API requests logged since the last ``clear_requests``."""
        return list(self.admin("GET", "requests", path=API_PATHS)["requests"])

    def clear_requests(self) -> None:
        self.admin("DELETE", "requests")

    def advance_clock(self, seconds: float) -> None:
        """Move QBO's clock ahead (also empties the rate-limit windows): days between runs."""
        self.admin("POST", "clock/advance", {"seconds": seconds})
        self.clock_offset += timedelta(seconds=seconds)

    def count(self, entity: str) -> int:
        return len(self.admin("GET", "dump").get(entity, []))

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the emulator process so far (Linux /proc), else None."""
        if self._proc is None:
            return None
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def write_seed(path: Path, customers: list[dict[str, Any]]) -> Path:
    """A seed file: the default company (items, tax codes, a vendor...) with these customers."""
    path.write_text(json.dumps({"Customer": customers}), encoding="utf-8")
    return path


def connect_profile(emu: EmulatorProcess, workdir: Path) -> Path:
    """A qbsync profile under ``workdir`` connected to ``emu``; the config file's path."""
    emu.admin(
        "POST",
        "clients",
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
    )
    config_path = workdir / "config.toml"
    write_config(
        config_path,
        {
            "qbo": {
                "environment": emu.base_url,
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "timeout_seconds": 60,
            },
            "tokens": {"store": "file"},
            "source": {"type": "csv", "members": "members.csv"},
        },
        force=True,
    )
    store = open_store("file", profile="default", data_dir=workdir / "data")
    store.save_client_secret(CLIENT_SECRET)
    refresh_tokens(emu, workdir)
    return config_path


def refresh_tokens(emu: EmulatorProcess, workdir: Path) -> None:
    """Fresh tokens in the profile's store (after the emulator's clock moved a day ahead, the
    old access token has expired; a real run would refresh it, at two requests not to count)."""
    store = open_store("file", profile="default", data_dir=workdir / "data")
    body = emu.admin("POST", "tokens", {"client_id": CLIENT_ID})
    now = datetime.now(UTC) + emu.clock_offset
    store.save_tokens(token_set_from_response(body, realm_id=body["realmId"], now=now))


def open_profile(workdir: Path, time_scale: float) -> tuple[Config, QboClient, State]:
    """The profile's config, a QboClient built as ``cli/context.open_session`` builds it (the
    pacer from ``[qbo] batch_per_minute``, its window shared through the profile's data folder)
    on the emulator's time scale, and its state."""
    config = load_config(workdir / "config.toml", profile="default", data_dir=workdir / "data")
    store = open_store("file", profile="default", data_dir=workdir / "data")
    client = QboClient(
        config.qbo,
        token_manager_for(config, store=store),
        data_dir=config.data_dir,
        time_scale=time_scale,
        retry=RetryPolicy(base_delay=0.05, throttle_delay=60.0 / time_scale),
    )
    return config, client, State.open(config.state_path)


# --- measuring ------------------------------------------------------------------------------


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def measured(profile: str | None = None) -> Iterator[dict[str, Any]]:
    """Wall, CPU (getrusage deltas) and memory of the block; ``profile`` "cpu" (cProfile) or
    "mem" (tracemalloc: slower, adds its peak and top allocation sites)."""
    out: dict[str, Any] = {"rss_before_mb": round(_rss_mb(), 1)}
    # CPU time, not wall: waits for QBO and fsync would otherwise top the list.
    profiler = cProfile.Profile(time.process_time) if profile == "cpu" else None
    if profile == "mem":
        tracemalloc.start(12)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    yield out
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    out.update(
        wall_s=round(wall, 2),
        cpu_s=round(user + system, 2),
        cpu_user_s=round(user, 2),
        cpu_sys_s=round(system, 2),
        peak_rss_mb=round(after.ru_maxrss / 1024, 1),  # Linux: KiB; this child's lifetime peak
    )
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(35)
        out["profile"] = text.getvalue()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        out["profile"] += text.getvalue()
    if profile == "mem":
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_mb"] = round(peak / 2**20, 1)
        out["tracemalloc_end_mb"] = round(current / 2**20, 1)
        top = snapshot.statistics("traceback")[:8]
        lines = []
        for stat in top:
            lines.append(f"{stat.size / 2**20:.1f} MB in {stat.count} blocks")
            lines.extend("    " + line for line in stat.traceback.format(limit=6))
        out["profile"] = "\n".join(lines)


def run_measured(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``target(*args)`` in a fresh spawned process (its answer must be picklable)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(target, args)


def emulator_cpu(emu: EmulatorProcess, before: float | None) -> float | None:
    after = emu.cpu_seconds()
    return None if before is None or after is None else round(after - before, 2)


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)


# --- reporting ------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A plain text table: ``columns`` are (key, heading)."""
    cells = [[h for _, h in columns]] + [
        ["" if r.get(k) is None else str(r.get(k)) for k, _ in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_profiles(results: dict[str, Any]) -> None:
    for name, run in results.items():
        if isinstance(run, dict) and run.get("profile"):
            print(f"\n=== profile: {name} ===\n{run['profile']}", file=sys.stderr)


class NaiveClient:
    """The python-quickbooks client a user would write: the library's objects over a session
    carrying the bearer token (python-quickbooks sends no timeout: one is added), a pause to stay
    under 500 requests a minute, and the retry every such script ends up with (60 s after a 429).
    ``call(fn)`` runs one request through that retry; ``sent`` and ``throttled`` count."""

    def __init__(self, base_url: str, realm_id: str, token: str, time_scale: float) -> None:
        from quickbooks import QuickBooks

        counts = self

        class BearerSession(requests.Session):
            access_token = token

            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                counts.sent += 1
                kwargs.setdefault("timeout", 60)
                return super().request(method, url, *args, **kwargs)

        self.sent = 0
        self.throttled = 0
        self.time_scale = time_scale
        self.pause = 60.0 / 480 / time_scale  # "stay under 500 a minute"
        self.qb = QuickBooks(company_id=realm_id, minorversion=75)
        self.qb.session = BearerSession()
        self.qb.sandbox = True
        self.qb.sandbox_api_url_v3 = base_url + "/v3"

    def call(self, fn: Callable[[], Any]) -> Any:
        from quickbooks.exceptions import QuickbooksException

        while True:
            try:
                answer = fn()
                time.sleep(self.pause)
                return answer
            except QuickbooksException as exc:
                if exc.error_code == 3001 or "ThrottleExceeded" in str(exc):
                    self.throttled += 1
                    time.sleep(60.0 / self.time_scale)  # Intuit: wait 60 s after a 429
                    continue
                time.sleep(self.pause)
                raise


def publish(
    benchmark: str,
    args: Any,
    runs: dict[str, Any],
    started: float,
    report: Callable[[dict[str, Any], Any], str],
    **sizes: Any,
) -> int:
    """The results document: profiles to stderr, the side-by-side report to stdout, and the
    JSON file (without profiles) when ``--json`` asks for one."""
    results = {
        "benchmark": benchmark,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "time_scale": args.time_scale,
        **sizes,
        "seconds_total": round(time.monotonic() - started, 1),
        "runs": runs,
    }
    print_profiles(runs)
    print(report(results, args))
    if args.json:
        for run in runs.values():
            run.pop("profile", None)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0
