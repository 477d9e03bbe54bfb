"""Stand-ins for the cloud stores the upload actions call, all on 127.0.0.1.

Azurite (Microsoft's Blob service emulator, npm, installed by dev/test into
dev/node/) for Azure; aiohttp servers speaking Box's and Dropbox's upload
endpoints (auth header checked, multipart / Dropbox-API-Arg parsed, bytes kept,
409 conflicts answered as the vendors do). `fail_next` makes the next request
answer 503 once, to prove the run retries.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web

from dev.workers import free_port
from steps.uploads.azure_auth import API_VERSION, shared_key, stamp

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "dev" / "node" / "node_modules" / ".bin" / "azurite-blob"
AZ_ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key
AZ_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw"
          "==")
BOX_TOKEN = "box-token-5e1f0c"
DROPBOX_TOKEN = "dbx-token-a93c27"


class Azurite:
    """An azurite-blob process on a free port, its data in a temporary folder."""

    def __init__(self) -> None:
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} is missing: run dev/test (it installs azurite)")
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="azurite-")
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZ_ACCOUNT}"
        self.proc = subprocess.Popen(
            [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--location", self.folder, "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("azurite did not start")

    def _signed(self, method: str, path: str, query: dict[str, str]) -> httpx.Response:
        headers = {"x-ms-version": API_VERSION, "x-ms-date": stamp()}
        url_path = f"/{AZ_ACCOUNT}{path}"
        headers["Authorization"] = shared_key(AZ_ACCOUNT, AZ_KEY, method, url_path, query,
                                              headers, 0)
        return httpx.request(method, f"http://127.0.0.1:{self.port}{url_path}", params=query,
                             headers=headers, timeout=10)

    def create_container(self, name: str) -> None:
        response = self._signed("PUT", f"/{name}", {"restype": "container"})
        assert response.status_code == 201, response.text

    def read(self, container: str, blob: str) -> httpx.Response:
        return self._signed("GET", f"/{container}/{blob}", {})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Peer:
    """A local HTTP server's state: what it stores, what it saw, its failure switch."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    runner: web.AppRunner | None = None

    def failing(self) -> web.Response | None:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"error": "try later"}, status=503,
                                     headers={"Retry-After": "0"})
        return None


async def serve(app: web.Application, peer: Peer, port: int = 0) -> Peer:
    peer.runner = web.AppRunner(app)
    await peer.runner.setup()
    site = web.TCPSite(peer.runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    peer.url = f"http://127.0.0.1:{bound}"
    return peer


def _bearer(request: web.Request, token: str) -> bool:
    return request.headers.get("Authorization") == f"Bearer {token}"


async def dropbox_peer(port: int = 0) -> Peer:
    """/2/files/upload as Dropbox answers it (modes add and overwrite, path/conflict)."""
    peer = Peer()

    async def upload(request: web.Request) -> web.Response:
        raw_arg = request.headers.get("Dropbox-API-Arg", "")
        peer.seen.append({"arg": raw_arg, "headers": dict(request.headers)})
        if (failed := peer.failing()) is not None:
            return failed
        if not _bearer(request, DROPBOX_TOKEN):
            return web.json_response({"error_summary": "invalid_access_token/.",
                                      "error": {".tag": "invalid_access_token"}}, status=401)
        assert raw_arg.isascii(), raw_arg
        assert request.headers["Content-Type"] == "application/octet-stream"
        arg = orjson.loads(raw_arg)
        path = arg["path"]
        data = await request.read()
        if path.lower() in {p.lower() for p in peer.files} and arg["mode"] == "add":
            return web.json_response({"error_summary": "path/conflict/file/..", "error": {
                ".tag": "path", "reason": {".tag": "conflict"}}}, status=409)
        peer.files[path] = data
        return web.json_response({"name": path.rsplit("/", 1)[-1], "path_display": path,
                                  "id": f"id:{len(peer.files)}", "rev": "0123456789a",
                                  "size": len(data)})

    app = web.Application(client_max_size=200 * 1024 * 1024)
    app.router.add_post("/2/files/upload", upload)
    return await serve(app, peer, port)


async def box_peer(port: int = 0) -> Peer:
    """Box's folders API and upload endpoints: folder tree, 409 item_name_in_use, versions.

    `meta` maps an item id to {type, name, parent}; `files` maps a file id to its bytes.
    """
    peer = Peer()
    peer.meta["0"] = {"type": "folder", "name": "All Files", "parent": None}
    lock = asyncio.Lock()

    def unauthorized() -> web.Response:
        return web.json_response({"type": "error", "status": 401, "code": "unauthorized"},
                                 status=401)

    def child(parent: str, name: str) -> str | None:
        return next((i for i, m in peer.meta.items()
                     if m["parent"] == parent and m["name"] == name), None)

    def conflict(item: str) -> web.Response:
        return web.json_response({"type": "error", "status": 409, "code": "item_name_in_use",
                                  "context_info": {"conflicts": {
                                      "type": peer.meta[item]["type"], "id": item,
                                      "name": peer.meta[item]["name"]}}}, status=409)

    async def items(request: web.Request) -> web.Response:
        if not _bearer(request, BOX_TOKEN):
            return unauthorized()
        folder = request.match_info["id"]
        limit, offset = int(request.query["limit"]), int(request.query.get("offset", 0))
        kids = [{"type": m["type"], "id": i, "name": m["name"]}
                for i, m in peer.meta.items() if m["parent"] == folder]
        return web.json_response({"total_count": len(kids), "offset": offset,
                                  "entries": kids[offset:offset + limit]})

    async def create_folder(request: web.Request) -> web.Response:
        if not _bearer(request, BOX_TOKEN):
            return unauthorized()
        body = await request.json()
        async with lock:
            existing = child(body["parent"]["id"], body["name"])
            if existing:
                return conflict(existing)
            new = str(1000 + len(peer.meta))
            peer.meta[new] = {"type": "folder", "name": body["name"],
                              "parent": body["parent"]["id"]}
        return web.json_response({"type": "folder", "id": new, "name": body["name"]},
                                 status=201)

    async def parts(request: web.Request) -> tuple[dict[str, Any], bytes, str]:
        reader = await request.multipart()
        first = await reader.next()
        assert first is not None and first.name == "attributes", "attributes must come first"
        attributes = orjson.loads(await first.read())
        second = await reader.next()
        assert second is not None and second.name == "file"
        return attributes, bytes(await second.read()), second.headers.get("Content-Type", "")

    async def upload(request: web.Request) -> web.Response:
        peer.seen.append({"path": request.path, "headers": dict(request.headers)})
        if (failed := peer.failing()) is not None:
            return failed
        if not _bearer(request, BOX_TOKEN):
            return unauthorized()
        attributes, data, _ = await parts(request)
        async with lock:
            existing = child(attributes["parent"]["id"], attributes["name"])
            if existing:
                return conflict(existing)
            new = str(1000 + len(peer.meta))
            peer.meta[new] = {"type": "file", "name": attributes["name"],
                              "parent": attributes["parent"]["id"], "versions": 1}
            peer.files[new] = data
        return web.json_response({"total_count": 1, "entries": [
            {"type": "file", "id": new, "name": attributes["name"], "size": len(data)}]},
            status=201)

    async def new_version(request: web.Request) -> web.Response:
        peer.seen.append({"path": request.path, "headers": dict(request.headers)})
        if (failed := peer.failing()) is not None:
            return failed
        if not _bearer(request, BOX_TOKEN):
            return unauthorized()
        file_id = request.match_info["id"]
        _, data, _ = await parts(request)
        peer.files[file_id] = data
        peer.meta[file_id]["versions"] += 1
        return web.json_response({"total_count": 1, "entries": [
            {"type": "file", "id": file_id, "name": peer.meta[file_id]["name"]}]})

    app = web.Application(client_max_size=200 * 1024 * 1024)
    app.router.add_get("/2.0/folders/{id}/items", items)
    app.router.add_post("/2.0/folders", create_folder)
    app.router.add_post("/api/2.0/files/content", upload)
    app.router.add_post("/api/2.0/files/{id}/content", new_version)
    return await serve(app, peer, port)


def box_file(peer: Peer, path: str, root: str = "0") -> bytes:
    """The bytes stored at `path` under folder `root`, walking the tree like a client."""
    parent = root
    for name in path.split("/"):
        parent = next(i for i, m in peer.meta.items()
                      if m["parent"] == parent and m["name"] == name)
    return peer.files[parent]
