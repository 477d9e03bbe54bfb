"""How every Kafka client of a deployment authenticates: SASL and/or TLS, or nothing.

Faust's consumer/producer/admin, the topic creator, the history projector, the
registry replicas, the webhook deliverer and the operator commands all open
clients; they all take their options from one `KafkaSecurity` (HOPFLOW_KAFKA_*),
so a production cluster needs the settings written once. The password is never
in a repr (hence never in a log line that prints the settings).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurityError(ValueError):
    """The HOPFLOW_KAFKA_* settings do not make a usable configuration."""


def _env(name: str) -> str | None:
    return os.environ.get(f"HOPFLOW_KAFKA_{name}") or None


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> KafkaSecurity:
        values: dict[str, Any] = {
            "protocol": (_env("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            "sasl_mechanism": (_env("SASL_MECHANISM") or "PLAIN").upper(),
            "sasl_username": _env("SASL_USERNAME"), "sasl_password": _env("SASL_PASSWORD"),
            "ssl_cafile": _env("SSL_CAFILE"), "ssl_certfile": _env("SSL_CERTFILE"),
            "ssl_keyfile": _env("SSL_KEYFILE")}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"HOPFLOW_KAFKA_SECURITY_PROTOCOL must be one of "
                                     f"{', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.sasl and self.sasl_mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"HOPFLOW_KAFKA_SASL_MECHANISM must be one of "
                                     f"{', '.join(MECHANISMS)}, got {self.sasl_mechanism!r}")
        if self.sasl and not (self.sasl_username and self.sasl_password):
            raise KafkaSecurityError(f"{self.protocol} needs HOPFLOW_KAFKA_SASL_USERNAME and "
                                     "HOPFLOW_KAFKA_SASL_PASSWORD")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise KafkaSecurityError("HOPFLOW_KAFKA_SSL_CERTFILE and _SSL_KEYFILE go together")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (the CA file, else the system's), with the client
        certificate for mutual TLS when one is set."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials` (None for PLAINTEXT)."""
        import faust  # lazy: operator commands use client_options without Faust

        if self.sasl:
            return faust.SASLCredentials(username=self.sasl_username,
                                         password=self.sasl_password,
                                         ssl_context=self.ssl_context(),
                                         mechanism=self.sasl_mechanism)
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """`security`'s client options, or those of the HOPFLOW_KAFKA_* environment."""
    return (security or KafkaSecurity.from_env()).client_options()
