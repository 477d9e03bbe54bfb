"""A real S3 peer for tests: moto's server mode on 127.0.0.1, with signatures checked.

One moto server per test session (a thread in the test process; workers reach it
over TCP). moto checks SigV4 signatures only once its IAM auth is on, so the
fixture creates an IAM user with an access key allowed everything, then turns
auth on: every request after that must be signed with that key, and a wrong
secret gets SignatureDoesNotMatch, an unknown key InvalidAccessKeyId, as on AWS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from aiohttp import web

from steps.s3 import S3Client, Target

REGION = "us-east-1"


@dataclass(frozen=True)
class S3Peer:
    endpoint: str
    access_key_id: str
    secret_access_key: str

    def target(self, bucket: str, **changes: str) -> Target:
        fields = {"bucket": bucket, "region": REGION, "access_key_id": self.access_key_id,
                  "secret_access_key": self.secret_access_key, "endpoint_url": self.endpoint}
        fields.update(changes)
        return Target(**fields)

    def client(self, bucket: str) -> S3Client:
        return S3Client(self.target(bucket), httpx.AsyncClient(trust_env=False))

    async def new_bucket(self) -> str:
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        s3 = self.client(bucket)
        try:
            await s3.create_bucket()
        finally:
            await s3.client.aclose()
        return bucket

    async def read(self, bucket: str, key: str) -> bytes:
        s3 = self.client(bucket)
        try:
            return b"".join([chunk async for chunk in s3.get_object(key)])
        finally:
            await s3.client.aclose()


@pytest.fixture(scope="session")
def s3_peer() -> Iterator[S3Peer]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="hopflow")
    iam.put_user_policy(UserName="hopflow", PolicyName="all", PolicyDocument=orjson.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).decode())
    key = iam.create_access_key(UserName="hopflow")["AccessKey"]
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        yield S3Peer(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.stop()


@dataclass
class FlakyProxy:
    """An S3 endpoint in front of moto that answers the first `failures` PUTs 503.

    The Host header is passed through unchanged, so the client's signature (which
    covers the proxy's host) still verifies at moto."""

    upstream: str
    failures: int = 1
    puts: int = 0
    refused: int = 0
    runner: web.AppRunner | None = field(default=None, repr=False)
    url: str = ""

    async def start(self) -> FlakyProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "PUT":
            self.puts += 1
            if self.refused < self.failures:
                self.refused += 1
                return web.Response(status=503, content_type="application/xml", body=(
                    b"<Error><Code>SlowDown</Code><Message>try again</Message></Error>"))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection")}
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.request(request.method, self.upstream + request.path_qs,
                                          headers=headers, content=body)
        out = {k: v for k, v in answer.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                    "content-encoding")}
        return web.Response(status=answer.status_code, headers=out, body=answer.content)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
