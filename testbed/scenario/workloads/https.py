"""`https`: a download or upload over TLS whose server name, Host and address are chosen
apart, with the ClientHello split or carrying ECH: what a censor that reads TLS decides on."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from testbed.profile.types import Bytes, Duration, FieldError
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.scenario.workloads.download import Download
from testbed.traffic.certificates import Certificates, make_certificates
from testbed.traffic.https import HttpsOptions, run_https

# A DNS name as Python's ssl sends it: ASCII labels (and not an address: _dns_name)
DNS_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$"
HOST_HEADER = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces: it goes into a request line


def _version_text(value: object) -> object:
    """`tls: 1.2` unquoted is a YAML float: take it as the version it spells."""
    return str(value) if isinstance(value, float) else value


TRANSFER_METRICS = ("handshake", "handshake_ms", "bytes", "stalled", "kbit", "kbit_steady")


class Https(TwoNodes):
    """The client connects to the server's address, names `server_name` in its ClientHello
    and `host` in its request; the server's certificate, from a CA made for the run, is
    for that name, and the client checks it."""

    type: Literal["https"]
    name: str = "https"
    server_name: str | None = Field("example.org", min_length=1, max_length=253,
                                    description="the TLS server name (SNI), a DNS name in ASCII (an IDN as "
                                    "its xn-- form); null sends none")
    host: str | None = Field(None, min_length=1, max_length=253, pattern=HOST_HEADER,
                             description="the HTTP Host header (default: the server name)")
    tls: Annotated[Literal["1.2", "1.3"], BeforeValidator(_version_text)] = Field(
        "1.3", description="the TLS version, the only one offered")
    split_at: int | Literal["sni"] | None = Field(
        None, description="send the ClientHello as two TCP segments, the first of this many bytes (1: the "
        "first byte alone), or `sni`: cut inside the server name")
    grease_ech: bool = Field(False, description="add a GREASE ECH extension (0xfe0d) to the ClientHello, as "
                             "Chromium does; the handshake then cannot complete, `answered` still says "
                             "whether the server's reply came back")
    direction: Literal["down", "up"] = Field("down", description="down: server to client")
    size: Bytes | None = Field(None, ge=1, description="stop after this much; default: run the whole phase")
    idle_timeout: Duration("100ms") = Field(2_000_000_000,
                                            description="no byte for this long: no answer, or stalled")
    port: int = Field(443, ge=1, le=65535)

    METRICS: ClassVar[tuple[Metric, ...]] = (
        Download.metric("connected"),
        Metric("answered", "0/1", "1 if the server's reply to the ClientHello came back"),
        Metric("handshake", "0/1", "1 if the TLS handshake completed"),
        Metric("handshake_ms", "ms", "from the TCP connection to the end of the TLS handshake"),
        Metric("reset", "0/1", "1 if a TCP reset ended (or refused) the client's connection"),
        Metric("server_reset", "0/1", "1 if a TCP reset ended the server's connection"),
        *(m for m in Download.METRICS if m.name != "connected"),  # the transfer, measured as download's
    )

    @model_validator(mode="after")
    def _options(self) -> Https:
        if self.split_at == "sni" and self.server_name is None:
            raise FieldError("split_at", "split_at: sni cuts inside the server name, and server_name is null")
        if isinstance(self.split_at, int) and self.split_at < 1:
            raise FieldError("split_at", f"{self.split_at}: the first segment holds at least one byte")
        if self.host is None and self.server_name is None:
            raise FieldError("server_name",
                             "server_name: null sends no name: give `host`, the Host header to send")
        return self

    @field_validator("server_name")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(DNS_NAME, value):
            raise ValueError(f"{value!r} is not a DNS name in ASCII (dot-separated labels of letters, "
                             "digits, '-' and '_'): write an IDN in its xn-- form, as clients send it")
        try:
            ipaddress.ip_address(value or "")
        except ValueError:
            return value
        raise ValueError(f"{value!r} is an address: a ClientHello names no address (Python's ssl sends no "
                         "server name then); give a DNS name, or null for none")

    def services(self) -> dict[str, tuple[str, str]]:
        return {"port": (self.server, f"TCP port {self.port}")}

    def unmeasured(self, metric: str) -> str | None:
        if self.grease_ech and metric in TRANSFER_METRICS:
            return "grease_ech: the testbed's TLS has no ECH, so the handshake cannot complete"
        return None

    def _certificates(self, directory: Path) -> Certificates:
        folder = directory / "tls" / self.name
        # for the name the client checks; with none it checks no name (the Host is not checked)
        names = [self.server_name] if self.server_name else []
        if (folder / "server.key").exists():
            return Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
        return make_certificates(folder, names)

    def prepare(self, directory: Path, progress) -> None:
        self._certificates(directory)

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        options = HttpsOptions(self.server_name, self.host or self.server_name or "", self.tls, self.split_at,
                               self.grease_ech, self.direction, self.size or 0, ctx.seconds,
                               self.idle_timeout / 1e9)
        result = run_https(ctx.endpoint(self.client), ctx.endpoint(self.server), options,
                           self._certificates(ctx.directory), self.port)
        return {"connected": float(result.connected), "answered": float(result.answered),
                "handshake": float(result.handshake), "handshake_ms": result.handshake_ms,
                "reset": float(result.reset), "server_reset": float(result.server_reset),
                "bytes": float(result.bytes), "stalled": float(result.stalled), "kbit": result.kbit,
                "kbit_steady": result.kbit_steady}
