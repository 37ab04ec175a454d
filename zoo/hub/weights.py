"""Pretrained weights: resolve -> fetch -> verify -> cache.

A :class:`~zoo.WeightsSpec` is resolved in this order:

1. package data, ``file="package.module:relative/path"`` (weights shipped inside a pip package);
2. a local path, ``file="/path/to/model.weights.h5"``;
3. ``url`` (``http(s)://`` or ``file://``), downloaded into the cache.

Every file is checked against the spec's digest before use (its sha256; an md5
where the publisher gives only that, as Keras does for most applications); a
cached file that fails the check is fetched again. A file that Keras already
downloaded into its own cache (``$KERAS_HOME/models``, default ``~/.keras/models``)
under the URL's file name is used in place, once it passes the same check. Downloads stream into a temporary file beside
the target and are renamed into place only once complete and verified, so an
interrupted or concurrent download never leaves a half-written file under the
final name. The cache lives in ``$ZOO_HOME/weights`` (``ZOO_HOME`` defaults to the
user cache directory). ``ZOO_OFFLINE=1`` forbids downloads.

Nothing here unpickles anything: the files are Keras ``.weights.h5`` (HDF5) or
``.keras`` archives, loaded by Keras with ``safe_mode=True``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path

from zoo.errors import ChecksumError, DownloadError, TruncatedDownloadError, WeightsError

# File kinds Keras loads without unpickling; anything else is refused.
WEIGHT_SUFFIXES = (".weights.h5", ".keras", ".h5")
_CHUNK = 1 << 20
_RESOURCE_RE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(.+)$")


def zoo_home() -> Path:
    """Root of keras-zoo's cache: ``$ZOO_HOME`` or the platform's user cache directory."""
    home = os.environ.get("ZOO_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("keras-zoo"))


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    return zoo_home() / "weights"


def offline() -> bool:
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


DIGEST_ALGORITHMS = ("sha256", "md5")


def _hasher(algorithm: str):
    if algorithm not in DIGEST_ALGORITHMS:
        raise ValueError(f"digest algorithm must be one of {', '.join(DIGEST_ALGORITHMS)}, got {algorithm!r}")
    # md5 only identifies a file here (Keras publishes nothing stronger for most of its files).
    return hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.sha256()


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    digest = _hasher(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def verify(path: str | os.PathLike, digest: str, *, algorithm: str = "sha256", what: str = "weights file") -> None:
    """Raise ChecksumError unless ``path`` has the given digest (sha256 unless told otherwise)."""
    actual = file_digest(path, algorithm)
    if actual != digest.lower():
        raise ChecksumError(
            f"{what} {path} has {algorithm} {actual} but {digest.lower()} was expected: the file is "
            "corrupt or was tampered with, so it was refused. Reinstall the package or delete the "
            "file to fetch it again; if the file changed on purpose, its spec needs the new digest."
        )


def parse_resource(ref: str) -> tuple[str, str] | None:
    """``"package.module:relative/path"`` -> (package, relative path); None for anything else."""
    match = _RESOURCE_RE.match(ref)
    return match.groups() if match else None


def check_suffix(path: str | os.PathLike) -> None:
    name = os.fspath(path).lower()
    if not name.endswith(WEIGHT_SUFFIXES):
        raise WeightsError(
            f"{path}: keras-zoo loads weights from {', '.join(WEIGHT_SUFFIXES)} files only "
            "(formats that need no unpickling); save them with model.save_weights('x.weights.h5')"
        )


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(str(text)).scheme in {"http", "https", "file"}


def split_url_digest(url: str) -> tuple[str, str | None]:
    """``https://h/x.weights.h5#sha256=<hex>`` -> (url without fragment, digest)."""
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        return base, fragment[len("sha256="):].lower()
    return url, None


# --------------------------------------------------------------------------- resolving


def resolve(weights, *, progress: bool = True, backbone: bool = False) -> Path:
    """A verified local file for a :class:`~zoo.WeightsSpec`, a path, or a URL.

    ``backbone=True`` resolves the spec's headless file (``WeightsSpec.backbone``)
    instead. A plain path is used as is (there is no digest to check it against);
    a URL may carry one as ``#sha256=<hex>``.
    """
    from zoo.registry.specs import WeightsSpec

    if isinstance(weights, WeightsSpec):
        if backbone:
            if weights.backbone is None:
                raise WeightsError(f"weights {weights.tag!r} have no backbone (headless) file")
            return _resolve_spec(weights.backbone, progress=progress, what=f"weights {weights.tag!r} backbone")
        return _resolve_spec(weights, progress=progress, what=f"weights {weights.tag!r}")
    text = os.fspath(weights)
    if is_url(text):
        url, digest = split_url_digest(text)
        return fetch(url, sha256=digest, progress=progress)
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    check_suffix(path)
    return path


def _resolve_spec(spec, *, progress: bool, what: str) -> Path:
    """``spec``: a WeightsSpec or WeightsFile (``file``, ``url`` and a ``digest``)."""
    algorithm, digest = spec.digest
    tried = []
    if spec.file:
        local = _package_resource(spec.file) if parse_resource(spec.file) else Path(spec.file).expanduser()
        if local is not None and local.is_file():
            check_suffix(local)
            verify(local, digest, algorithm=algorithm, what=f"{what} file")
            return local
        tried.append(f"{spec.file} (not found)")
    if spec.url:
        return fetch(spec.url, digest=digest, algorithm=algorithm, progress=progress)
    raise WeightsError(
        f"{what} are not available: tried {'; '.join(tried)} and the spec has no url. "
        "Reinstall the package that provides the model."
    )


def _package_resource(ref: str) -> Path | None:
    """``"pkg.module:rel/path"`` as a file on disk (copied out of a zip into the cache if need be)."""
    package, rel = parse_resource(ref)
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        return None
    resource = root.joinpath(*rel.split("/"))
    if isinstance(resource, Path):
        return resource
    if not resource.is_file():
        return None
    target = cache_dir() / "resources" / package / rel
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with resources.as_file(resource) as extracted:
            _atomic_copy(Path(extracted), target)
    return target


def _atomic_copy(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- fetching


def _url_file_name(url: str) -> str:
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "weights"


def cached_path(url: str, sha256: str | None, algorithm: str = "sha256") -> Path:
    """Where ``url`` is cached: keyed by its digest when known (``md5-<hex>`` for an
    md5), else by the URL."""
    if sha256 is None:
        key = "url-" + hashlib.sha256(url.encode()).hexdigest()[:24]
    else:
        key = sha256 if algorithm == "sha256" else f"{algorithm}-{sha256}"
    return cache_dir() / key / _url_file_name(url)


def keras_cache_dir() -> Path:
    """Where ``keras.utils.get_file`` keeps application weights: ``$KERAS_HOME/models``,
    else ``~/.keras/models`` (Keras' own rule, without importing Keras)."""
    home = os.environ.get("KERAS_HOME")
    return Path(home).expanduser() / "models" if home else Path("~/.keras").expanduser() / "models"


def _from_keras_cache(url: str, digest: str, algorithm: str) -> Path | None:
    """A file Keras already downloaded from ``url``, if it is there and passes the check.

    Only with a digest: a file of the right name is used in place only once its
    content is known to be the published one.
    """
    candidate = keras_cache_dir() / _url_file_name(url)
    if not candidate.is_file():
        return None
    try:
        verify(candidate, digest, algorithm=algorithm, what="Keras cache file")
    except ChecksumError:
        return None  # someone else's file of that name, or a damaged one: download ours
    return candidate


def fetch(url: str, *, sha256: str | None = None, progress: bool = True, timeout: float = 30.0,
          digest: str | None = None, algorithm: str = "sha256") -> Path:
    """Download ``url`` into the cache (or reuse the cached copy) and return its path.

    The file is checked against ``sha256`` (or ``digest`` under ``algorithm``, for
    publishers that give only an md5). A cached file that fails the check is
    downloaded again; a download that fails it is deleted and raises ChecksumError.
    A verified copy in Keras' cache is used without a request.
    """
    if sha256 is not None:
        if digest is not None and digest.lower() != sha256.lower():
            raise ValueError("pass the digest once: sha256= or digest=, not both")
        digest, algorithm = sha256, "sha256"
    _hasher(algorithm)
    digest = digest.lower() if digest else None
    target = cached_path(url, digest, algorithm)
    check_suffix(target)
    if target.is_file():
        if digest is None:
            return target
        try:
            verify(target, digest, algorithm=algorithm)
            return target
        except ChecksumError:
            _say(f"Cached {target} is corrupt ({algorithm} mismatch); downloading it again.", progress=True)
            target.unlink(missing_ok=True)
    if digest is not None:
        in_keras_cache = _from_keras_cache(url, digest, algorithm)
        if in_keras_cache is not None:
            return in_keras_cache
    if offline():
        raise DownloadError(
            f"weights {url} are not in the cache ({target}) and ZOO_OFFLINE is set; unset it to "
            "download, or copy the file there"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _download(url, out, progress=progress, timeout=timeout, algorithm=algorithm)
        if digest is not None and got != digest:
            raise ChecksumError(
                f"{url} downloaded with {algorithm} {got} but {digest} was expected: the server sent "
                "a different or corrupt file, so it was not kept. Try again later; if the file changed "
                "on purpose, the model's WeightsSpec needs the new digest."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(url: str, out, *, progress: bool, timeout: float, algorithm: str = "sha256") -> str:
    """Stream ``url`` into ``out``; return the digest of what was written."""
    digest = _hasher(algorithm)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - schemes checked by callers
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"{url} answered HTTP {exc.code} {exc.reason}: the weights URL is wrong or the file was "
            "removed; check the URL (or the plugin providing the model) and try again"
        ) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise DownloadError(
            f"could not download {url}: {reason}. Check that you are online and the host is up, or "
            "download the file yourself and pass weights='/path/to/file'"
        ) from exc
    except (socket.timeout, TimeoutError) as exc:
        raise DownloadError(f"could not download {url}: timed out after {timeout:g} s") from exc
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with _Progress(url, total, enabled=progress) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    chunk = exc.partial
                    received += len(chunk)
                    raise TruncatedDownloadError(_truncated_message(url, received, total)) from exc
                except (socket.timeout, TimeoutError, ConnectionError) as exc:
                    raise DownloadError(f"download of {url} failed after {received} bytes: {exc}") from exc
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.advance(len(chunk))
    if total is not None and received != total:
        raise TruncatedDownloadError(_truncated_message(url, received, total))
    return digest.hexdigest()


def _truncated_message(url: str, received: int, total: int | None) -> str:
    return (
        f"download of {url} stopped after {received} of {total} bytes: the connection closed "
        "early. Nothing was kept; try again"
    )


def _say(message: str, *, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


class _Progress:
    """A rich progress bar on a terminal, one line at start and end otherwise (logs, CI)."""

    def __init__(self, url: str, total: int | None, *, enabled: bool):
        self.url, self.total, self.enabled = url, total, enabled
        self.done = 0
        self._rich = None

    def __enter__(self):
        if not self.enabled:
            return self
        self._start = time.perf_counter()
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            self._rich = Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), console=Console(stderr=True), transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task(f"Downloading {Path(self.url).name}", total=self.total)
        else:
            size = f" ({self.total} bytes)" if self.total is not None else ""
            _say(f"Downloading {self.url}{size}", progress=True)
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self._rich is not None:
            self._rich.advance(self._task, n)

    def __exit__(self, exc_type, exc, tb):
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.stop()
        elif exc_type is None:
            _say(f"Downloaded {self.done} bytes in {time.perf_counter() - self._start:.1f} s", progress=True)
