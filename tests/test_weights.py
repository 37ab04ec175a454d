"""Weights: resolve -> fetch -> verify -> cache, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import socket
from pathlib import Path

import pytest

from local_http import serving

from zoo.hub import weights as weights_lib
from zoo.registry import WeightsSpec
from zoo.errors import ChecksumError, DownloadError, TruncatedDownloadError, WeightsError

PAYLOAD = bytes(range(256)) * 64  # 16 KiB of "weights"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class WeightsServer(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD under a few paths that misbehave in different ways; counts requests."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.requests.append(self.path)
        name = self.path.lstrip("/")
        if name.startswith("good"):
            self._send(PAYLOAD, len(PAYLOAD))
        elif name.startswith("other"):
            self._send(PAYLOAD[::-1], len(PAYLOAD))
        elif name.startswith("truncated"):
            self._send(PAYLOAD[: len(PAYLOAD) // 3], len(PAYLOAD))  # promises more than it sends
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes, length: int):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def server():
    with serving(WeightsServer()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    return tmp_path / "zoo-home"


def leftovers(root: Path) -> list[str]:
    """Files in the cache other than complete downloads (temporary .partial files)."""
    return [p.name for p in root.rglob("*") if p.is_file() and p.name.endswith(".partial")]


def test_cache_location_follows_zoo_home(zoo_home):
    assert weights_lib.cache_dir() == zoo_home / "weights"


def test_download_shows_progress_and_verifies(server, capsys, zoo_home):
    path = weights_lib.fetch(server.url("good-1.weights.h5"), sha256=DIGEST)
    assert path.read_bytes() == PAYLOAD
    assert path.parent.name == DIGEST and path.is_relative_to(zoo_home)
    err = capsys.readouterr().err
    assert f"Downloading {server.url('good-1.weights.h5')} ({len(PAYLOAD)} bytes)" in err
    assert f"Downloaded {len(PAYLOAD)} bytes" in err


def test_second_fetch_is_a_cache_hit(server, capsys):
    url = server.url("good-2.weights.h5")
    first = weights_lib.fetch(url, sha256=DIGEST)
    before = len(server.requests)
    capsys.readouterr()
    assert weights_lib.fetch(url, sha256=DIGEST) == first
    assert len(server.requests) == before and capsys.readouterr().err == ""


def test_corrupt_cached_file_is_fetched_again(server, capsys):
    url = server.url("good-3.weights.h5")
    path = weights_lib.fetch(url, sha256=DIGEST, progress=False)
    path.write_bytes(PAYLOAD[:-1] + b"\x00")
    before = len(server.requests)
    assert weights_lib.fetch(url, sha256=DIGEST, progress=False).read_bytes() == PAYLOAD
    assert len(server.requests) == before + 1
    assert "is corrupt (sha256 mismatch); downloading it again" in capsys.readouterr().err


def test_sha_mismatch_is_refused_and_nothing_kept(server, zoo_home):
    url = server.url("other.weights.h5")
    with pytest.raises(ChecksumError, match=f"downloaded with sha256 [0-9a-f]{{64}} but {DIGEST} was expected"):
        weights_lib.fetch(url, sha256=DIGEST, progress=False)
    assert not weights_lib.cached_path(url, DIGEST).exists() and leftovers(zoo_home) == []


def test_md5_digests_verify_and_key_the_cache(server, zoo_home):
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    url = server.url("good-md5.h5")
    path = weights_lib.fetch(url, digest=md5, algorithm="md5", progress=False)
    assert path == weights_lib.cached_path(url, md5, "md5") and path.parent.name == f"md5-{md5}"
    weights_lib.verify(path, md5, algorithm="md5")
    with pytest.raises(ChecksumError, match="downloaded with md5 [0-9a-f]{32} but 0{32} was expected"):
        weights_lib.fetch(server.url("other-md5.h5"), digest="0" * 32, algorithm="md5", progress=False)
    with pytest.raises(ValueError, match="digest algorithm must be one of sha256, md5"):
        weights_lib.fetch(url, digest=md5, algorithm="sha1", progress=False)
    assert leftovers(zoo_home) == []


def test_a_verified_file_in_keras_cache_is_used_in_place(server, zoo_home, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "good-k.h5").write_bytes(PAYLOAD)
    (tmp_path / "keras" / "models" / "good-wrong.h5").write_bytes(b"not it")
    before = len(server.requests)
    assert weights_lib.fetch(server.url("good-k.h5"), sha256=DIGEST, progress=False) == \
        tmp_path / "keras" / "models" / "good-k.h5"
    assert len(server.requests) == before
    # a same-named file with other content is ignored and the real one downloaded
    assert weights_lib.fetch(server.url("good-wrong.h5"), sha256=DIGEST, progress=False).read_bytes() == PAYLOAD
    assert len(server.requests) == before + 1


def test_truncated_body_is_refused(server, zoo_home):
    url = server.url("truncated.weights.h5")
    with pytest.raises(TruncatedDownloadError, match=f"stopped after {len(PAYLOAD) // 3} of {len(PAYLOAD)} bytes"):
        weights_lib.fetch(url, sha256=DIGEST, progress=False)
    assert not weights_lib.cached_path(url, DIGEST).exists() and leftovers(zoo_home) == []


def test_http_404_names_the_status(server):
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        weights_lib.fetch(server.url("missing.weights.h5"), sha256=DIGEST, progress=False)


def test_closed_port_reads_as_offline(zoo_home):
    with socket.socket() as s:  # a port nothing listens on: bind, then close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="could not download .*Check that you are online"):
        weights_lib.fetch(f"http://127.0.0.1:{port}/x.weights.h5", sha256=DIGEST, progress=False, timeout=5)
    assert leftovers(zoo_home) == []


def test_offline_mode_uses_the_cache_only(server, monkeypatch):
    url = server.url("good-4.weights.h5")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(DownloadError, match="ZOO_OFFLINE is set"):
        weights_lib.fetch(url, sha256=DIGEST, progress=False)
    monkeypatch.delenv("ZOO_OFFLINE")
    weights_lib.fetch(url, sha256=DIGEST, progress=False)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert weights_lib.fetch(url, sha256=DIGEST, progress=False).read_bytes() == PAYLOAD


def test_file_urls_and_digest_fragments(tmp_path):
    source = tmp_path / "local.weights.h5"
    source.write_bytes(PAYLOAD)
    assert weights_lib.resolve(f"{source.as_uri()}#sha256={DIGEST}", progress=False).read_bytes() == PAYLOAD
    with pytest.raises(ChecksumError):
        weights_lib.resolve(f"{source.as_uri()}#sha256={'0' * 64}", progress=False)


def test_spec_prefers_package_data_then_path_then_url(server, tmp_path):
    local = tmp_path / "w.weights.h5"
    local.write_bytes(PAYLOAD)
    url = server.url("good-5.weights.h5")
    spec = WeightsSpec("t", file=str(local), url=url, sha256=DIGEST)
    before = len(server.requests)
    assert weights_lib.resolve(spec, progress=False) == local and len(server.requests) == before
    missing = WeightsSpec("t", file="zoo_package_that_does_not_exist:w.weights.h5", url=url, sha256=DIGEST)
    assert weights_lib.resolve(missing, progress=False).read_bytes() == PAYLOAD
    assert len(server.requests) == before + 1
    nowhere = WeightsSpec("t", file=str(tmp_path / "gone.weights.h5"), sha256=DIGEST)
    with pytest.raises(WeightsError, match="not available: tried .*gone.weights.h5 \\(not found\\)"):
        weights_lib.resolve(nowhere)


def test_tampered_local_file_is_refused(tmp_path):
    local = tmp_path / "w.weights.h5"
    local.write_bytes(PAYLOAD[:-4] + b"evil")
    with pytest.raises(ChecksumError, match="corrupt or was tampered with"):
        weights_lib.resolve(WeightsSpec("t", file=str(local), sha256=DIGEST))


def test_packaged_weights_resolve_through_importlib_resources(plugin_venv):
    """The example plugin ships its weights as package data; a tampered copy is refused."""
    code = (
        "import json, zoo\n"
        "from zoo.hub import weights\n"
        "spec = zoo.get_model_spec('example_mlp.iris').get_weights('iris')\n"
        "try:\n"
        "    path, error = str(weights.resolve(spec)), None\n"
        "except zoo.ZooError as exc:\n"
        "    path, error = None, f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps({'path': path, 'file': spec.file, 'error': error}))\n"
    )
    report = plugin_venv.python_json(code)
    assert report["file"].startswith("zoo_example_plugin:") and report["error"] is None
    installed = Path(report["path"])
    assert installed.parent.parent.name == "zoo_example_plugin" and installed.parent.name == "weights"

    original = installed.read_bytes()
    try:
        installed.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        tampered = plugin_venv.python_json(code)
    finally:
        installed.write_bytes(original)
    assert tampered["path"] is None and tampered["error"].startswith("ChecksumError")


@pytest.mark.parametrize("name", ["model.pkl", "model.pt", "weights.npy"])
def test_only_formats_without_unpickling_are_accepted(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match="no unpickling"):
        weights_lib.resolve(path)
