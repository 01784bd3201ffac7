"""Probe the interfaces the inventory declares (HIS-LIS, HIS-PACS, insurance gateways): up?
how fast? From the controller, all at once, read-only (GET or a TCP connect).

Declared per host as ``hisops_interfaces``::

    hisops_interfaces:
      - {name: HIS-LIS, url: "http://lis-gw:8080/status", max_latency_ms: 500}
      - {name: insurance-gateway, tcp: "ybgw:7001"}

An HTTP interface is up when it answers with a 2xx status (``expect_status`` to say
otherwise) within ``timeout_s`` (default 5); a TCP one when the connection opens.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

VAR = "hisops_interfaces"
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class InterfaceResult:
    host: str
    name: str
    target: str
    up: bool
    latency_ms: float | None
    detail: str
    max_latency_ms: float | None


def declared(host_vars: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = host_vars.get(VAR) or []
    return [dict(e) for e in entries if isinstance(e, Mapping) and e.get("name")
            and (e.get("url") or e.get("tcp"))]


def _http(entry: Mapping[str, Any], timeout_s: float) -> tuple[bool, str]:
    expected = int(entry.get("expect_status", 0))
    # http(s) to the address the inventory names; no redirects to elsewhere are followed
    request = urllib.request.Request(str(entry["url"]), method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer: {reason}"
    ok = status == expected if expected else 200 <= status < 300
    return ok, f"HTTP {status}"


def _tcp(entry: Mapping[str, Any], timeout_s: float) -> tuple[bool, str]:
    host, _, port = str(entry["tcp"]).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True, "connected"
    except (OSError, ValueError) as exc:
        return False, f"cannot connect: {exc}"


def probe_one(host: str, entry: Mapping[str, Any]) -> InterfaceResult:
    timeout_s = float(entry.get("timeout_s", DEFAULT_TIMEOUT_S))
    check: Callable[[Mapping[str, Any], float], tuple[bool, str]] = (
        _http if entry.get("url") else _tcp)
    start = time.perf_counter()
    up, detail = check(entry, timeout_s)
    latency = round((time.perf_counter() - start) * 1000, 1)
    limit = entry.get("max_latency_ms")
    return InterfaceResult(host=host, name=str(entry["name"]),
                           target=str(entry.get("url") or entry.get("tcp")), up=up,
                           latency_ms=latency if up else None, detail=detail,
                           max_latency_ms=float(limit) if limit is not None else None)


def probe_all(declarations: Mapping[str, list[dict[str, Any]]],
              prober: Callable[[str, Mapping[str, Any]], InterfaceResult] = probe_one,
              ) -> list[InterfaceResult]:
    jobs = [(host, entry) for host, entries in declarations.items() for entry in entries]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(20, len(jobs))) as pool:
        return list(pool.map(lambda job: prober(*job), jobs))


def interface_metrics(results: list[InterfaceResult]) -> dict[str, dict[str, Any]]:
    """host -> iface.* metrics: how many are down (and which), the slowest beyond its limit."""
    out: dict[str, dict[str, Any]] = {}
    for result in results:
        facts = out.setdefault(result.host, {"iface.declared": 0, "iface.down": 0,
                                             "iface.slow": 0})
        facts["iface.declared"] += 1
        if not result.up:
            facts["iface.down"] += 1
            facts["iface.down_names"] = ",".join(
                filter(None, [facts.get("iface.down_names"), result.name]))
        elif (result.max_latency_ms is not None and result.latency_ms is not None
              and result.latency_ms > result.max_latency_ms):
            facts["iface.slow"] += 1
            facts["iface.slow_names"] = ",".join(
                filter(None, [facts.get("iface.slow_names"), result.name]))
    return out
