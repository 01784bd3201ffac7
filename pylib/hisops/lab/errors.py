"""Errors of the lab, in the project's one exception tree (:mod:`hisops.errors`)."""

from __future__ import annotations

from hisops.errors import HisopsError, InputError


class LabError(HisopsError):
    """The lab could not be built, started or checked; carries the log to read, if any."""

    def __init__(self, message: str, *, log_path: str | None = None) -> None:
        self.message = message
        self.log_path = log_path
        text = " ".join(message.split())
        super().__init__(f"{text} (log: {log_path})" if log_path else text)


class PortInUse(InputError):
    """A port the lab needs on 127.0.0.1 is already taken by something else."""

    def __init__(self, port: int, host: str, purpose: str) -> None:
        self.port, self.host, self.purpose = port, host, purpose
        super().__init__(
            f"port {port} on 127.0.0.1 ({purpose} of lab host {host}) is already in use; "
            "free it or set HISOPS_LAB_PORT_BASE to another base"
        )
