"""How the engine tells a person (or a test) what is happening, without printing itself."""

from __future__ import annotations

from typing import Protocol

from hisops.executors.results import HostOutcome


class Reporter(Protocol):
    def run_started(self, run_id: str, total_steps: int, resumed: bool) -> None: ...
    def step_started(self, index: int, step_id: str, label: str, hosts: int) -> None: ...
    def host_done(self, step_id: str, outcome: HostOutcome) -> None: ...
    def step_finished(self, step_id: str, status: str, detail: str) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    def run_started(self, run_id: str, total_steps: int, resumed: bool) -> None:
        pass

    def step_started(self, index: int, step_id: str, label: str, hosts: int) -> None:
        pass

    def host_done(self, step_id: str, outcome: HostOutcome) -> None:
        pass

    def step_finished(self, step_id: str, status: str, detail: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass
