"""A stand-in for the Hugging Face Hub on loopback, for the push and `hf:` tests (no network here).

It answers the HTTP calls huggingface_hub makes to create a repo, upload files in one commit and download a
dataset — create, preupload, commit, revision info, tree listing, resolve — and keeps every repo as a real
git repository under `root/<type>s/<owner>/<name>`, so a test reads back exactly what a push committed with
git. Files are always taken inline ("regular" upload mode): the LFS/Xet transfer the real Hub uses for large
files is not exercised. Writes need `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

TOKEN = "hf_msm_test_token"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


class FakeHub:
    def __init__(self, root: Path):
        self.root = root
        self.private: dict[str, bool] = {}
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def repo(self, repo_type: str, repo_id: str) -> Path:
        return self.root / f"{repo_type}s" / repo_id

    def create(self, repo_type: str, repo_id: str, private: bool = False) -> Path:
        path = self.repo(repo_type, repo_id)
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        git(path, "config", "user.name", "hub")
        git(path, "config", "user.email", "hub@localhost")
        (path / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial commit")
        self.private[f"{repo_type}/{repo_id}"] = private
        return path

    def commit_files(self, repo_type: str, repo_id: str, files: dict[str, bytes], message: str) -> str:
        path = self.repo(repo_type, repo_id)
        for name, data in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", message)
        return git(path, "rev-parse", "HEAD")

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status: int, data, headers: dict | None = None):
                self._send(status, json.dumps(data).encode(), headers)

            def _error(self, status: int, code: str, message: str):
                self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {TOKEN}"

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                hub.requests.append((method, url.path))
                if parts[:3] == ["api", "repos", "create"] and method == "POST":
                    return self._create()
                if parts[:2] == ["api", "validate-yaml"] and method == "POST":
                    return self._validate_yaml()
                if parts[0] == "api" and len(parts) >= 6 and parts[1] in ("models", "datasets"):
                    repo_type, repo_id, action, rest = parts[1][:-1], "/".join(parts[2:4]), parts[4], parts[5:]
                    if not hub.repo(repo_type, repo_id).is_dir():
                        return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                    if action == "preupload" and method == "POST":
                        return self._preupload()
                    if action == "commit" and method == "POST":
                        return self._commit(repo_type, repo_id)
                    if action == "revision" and method == "GET":
                        return self._info(repo_type, repo_id, rest[0])
                    if action == "tree" and method == "GET":
                        return self._tree(repo_type, repo_id, rest[0])
                if "resolve" in parts and method in ("GET", "HEAD"):
                    at = parts.index("resolve")
                    prefix = parts[:at]
                    repo_type = "dataset" if prefix[0] == "datasets" else "model"
                    repo_id = "/".join(prefix[1:] if repo_type == "dataset" else prefix)
                    return self._resolve(repo_type, repo_id, parts[at + 1], "/".join(parts[at + 2:]))
                return self._error(404, "EntryNotFound", f"no route {method} {url.path}")

            def do_GET(self):
                self._route("GET")

            def do_HEAD(self):
                self._route("HEAD")

            def do_POST(self):
                self._route("POST")

            def _create(self):
                payload = json.loads(self._body() or b"{}")
                if not self._authorized():
                    return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
                repo_type = payload.get("type") or "model"
                repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
                if hub.repo(repo_type, repo_id).exists():
                    return self._json(409, {"error": "You already created this repo", "url": f"{hub.endpoint}/{repo_id}"})
                private = payload.get("private") or payload.get("visibility") == "private"
                hub.create(repo_type, repo_id, private=bool(private))
                prefix = "datasets/" if repo_type == "dataset" else ""
                return self._json(200, {"url": f"{hub.endpoint}/{prefix}{repo_id}", "name": repo_id})

            def _validate_yaml(self):
                """The Hub checks a README's metadata before a commit; here: YAML front matter that is a mapping."""
                content = json.loads(self._body())["content"]
                problem = None
                if not content.startswith("---\n"):
                    problem = "no YAML metadata block"
                else:
                    try:
                        metadata = yaml.safe_load(content.split("\n---\n", 1)[0][4:])
                        if not isinstance(metadata, dict):
                            problem = "metadata is not a mapping"
                    except yaml.YAMLError as exc:
                        problem = f"invalid YAML: {exc}"
                if problem:
                    return self._json(400, {"errors": [{"message": problem}]}, {"X-Error-Code": "BadRequest"})
                return self._json(200, {"errors": [], "warnings": []})

            def _preupload(self):
                files = json.loads(self._body())["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})

            def _commit(self, repo_type: str, repo_id: str):
                if not self._authorized():
                    return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
                lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
                header = next(item["value"] for item in lines if item["key"] == "header")
                files = {}
                for item in lines:
                    if item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] != "header":
                        return self._error(400, "BadRequest", f"unsupported commit operation {item['key']}")
                oid = hub.commit_files(repo_type, repo_id, files, header["summary"])
                prefix = "datasets/" if repo_type == "dataset" else ""
                return self._json(200, {"commitUrl": f"{hub.endpoint}/{prefix}{repo_id}/commit/{oid}",
                                        "commitOid": oid, "success": True, "pullRequestUrl": None})

            def _revision(self, repo_type: str, repo_id: str, revision: str) -> str | None:
                try:
                    return git(hub.repo(repo_type, repo_id), "rev-parse", "--verify", "-q", f"{revision}^{{commit}}")
                except subprocess.CalledProcessError:
                    return None

            def _files(self, repo: Path, sha: str) -> list[dict]:
                out = git(repo, "ls-tree", "-r", "-l", sha)
                entries = []
                for line in out.splitlines():
                    meta, path = line.split("\t", 1)
                    _mode, _kind, oid, size = meta.split()
                    entries.append({"type": "file", "oid": oid, "size": int(size), "path": path})
                return entries

            def _info(self, repo_type: str, repo_id: str, revision: str):
                sha = self._revision(repo_type, repo_id, revision)
                if sha is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                files = self._files(hub.repo(repo_type, repo_id), sha)
                return self._json(200, {"id": repo_id, "_id": repo_id, "sha": sha,
                                        "private": hub.private.get(f"{repo_type}/{repo_id}", False),
                                        "siblings": [{"rfilename": f["path"]} for f in files], "tags": []})

            def _tree(self, repo_type: str, repo_id: str, revision: str):
                sha = self._revision(repo_type, repo_id, revision)
                if sha is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return self._json(200, self._files(hub.repo(repo_type, repo_id), sha))

            def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str):
                repo = hub.repo(repo_type, repo_id)
                if not repo.is_dir():
                    return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                sha = self._revision(repo_type, repo_id, revision)
                if sha is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                entry = next((f for f in self._files(repo, sha) if f["path"] == path), None)
                if entry is None:
                    return self._error(404, "EntryNotFound", f"{path} does not exist at {revision}")
                data = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", entry["oid"]], check=True,
                                      capture_output=True).stdout
                return self._send(200, data, {"X-Repo-Commit": sha, "ETag": f'"{entry["oid"]}"'},
                                  content_type="application/octet-stream")

        return Handler
