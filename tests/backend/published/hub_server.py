"""A local stand-in for the model hub on 127.0.0.1, answering as Hugging Face does for LFS files: ``GET
/<org>/<id>/resolve/<revision>/<file>`` redirects (302) to ``/blobs/<sha256>`` and announces the file's SHA-256,
size and commit (``X-Linked-Etag``, ``X-Linked-Size``, ``X-Repo-Commit``); ``/blobs/`` serves the bytes with
``Range`` support (206), optionally slowly. Every request's path and ``Range`` header is recorded."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    def __init__(self, organisation: str = "test-org") -> None:
        self.organisation = organisation
        self.files: dict[str, bytes] = {}  # "<id>/<file>" -> bytes
        self.served: dict[str, bytes] = {}  # "<id>/<file>" -> bytes sent instead (a corrupted server)
        self.requests: list[tuple[str, str | None]] = []
        self.delay_s = 0.0  # sleep per 64 KiB chunk
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hub.requests.append((self.path, self.headers.get("Range")))
                found = re.fullmatch(rf"/{hub.organisation}/([^/]+)/resolve/[^/]+/([^/]+)", self.path)
                if found and f"{found[1]}/{found[2]}" in hub.files:
                    key = f"{found[1]}/{found[2]}"
                    data = hub.files[key]
                    self.send_response(302)
                    self.send_header("Location", f"/blobs/{key}")
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/blobs/") and self.path[7:] in hub.files:
                    self._send(hub.served.get(self.path[7:], hub.files[self.path[7:]]))
                else:
                    self.send_error(404)

            def _send(self, data: bytes) -> None:
                start = 0
                asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if asked:
                    start = int(asked[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                for i in range(start, len(data), 1 << 16):
                    self.wfile.write(data[i : i + (1 << 16)])
                    if hub.delay_s:
                        time.sleep(hub.delay_s)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, model_id: str, folder: Path) -> None:
        """Serve the published files of ``folder`` as model ``model_id``."""
        for name in ("config.json", "model.safetensors"):
            self.files[f"{model_id}/{name}"] = (folder / name).read_bytes()

    def catalogue(self, path: Path, known_sha256: set[str] = frozenset(), base_url: str | None = None) -> Path:
        """A catalogue of every model served, with its real approximate size; the weights' SHA-256 recorded only for
        the ids in ``known_sha256`` (the others are checked against what the server announces)."""
        models = []
        for key, data in self.files.items():
            model_id, name = key.split("/")
            if name != "model.safetensors":
                continue
            arch, band_config, version = re.fullmatch(r"(.+)-(s1|s2|all)-v(.+)", model_id).groups()
            models.append(
                {
                    "id": model_id,
                    "architecture": arch,
                    "band_config": band_config,
                    "modalities": {"all": "s1s2"}.get(band_config, band_config),
                    "version": version,
                    "licence": "MIT",
                    "revision": "main",
                    "weights": {
                        "approx_size_mb": round(len(data) / 1e6, 1),
                        "sha256": hashlib.sha256(data).hexdigest() if model_id in known_sha256 else None,
                    },
                    "published_metrics": {"ap_macro": 0.6, "ap_micro": 0.8} if band_config == "all" else {},
                }
            )
        doc = {
            "base_url": base_url or self.url,
            "organisation": self.organisation,
            "files": ["config.json", "model.safetensors"],
            "models": models,
        }
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
