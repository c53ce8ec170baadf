"""A load cache that can't be forged: the host's full load of a ledger, kept between runs.

beancount's own `.picklecache` sits beside the ledger, where anyone able to write the books
folder can plant a pickle that runs code when it is loaded; it is off (ledger/load.py).
This cache instead:

- lives in the user's cache folder (`$BEANAGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/beanagent`,
  else `~/.cache/beanagent`), a real folder of ours, 0700, never beside the ledger;
- is keyed by the sha256 of every file the ledger loads (bytes, never mtimes), beancount's,
  beanagent's and Python's versions, the plugin list with each plugin module's own bytes,
  the `pythonpath` option and the listing of `documents` folders (what a load reads besides
  the ledger's files);
- is authenticated: each file is `header | MAC | payload`, the MAC an HMAC-SHA256 over the
  header and the payload with a 32-byte key kept in the user's state folder
  (`$XDG_STATE_HOME/beanagent/cache.key`, 0600), checked with `hmac.compare_digest` before
  anything is unpickled. The header holds a magic, the format version, the sha256 of the
  cache key and the payload's length.

Anything that does not fit (a MAC, key, version or length that differs, a truncated or
unreadable file, a symlink, a file or folder that is not ours or is open to others) is one
warning and a normal load; a bad cache file is removed. Every file is opened relative to
the folder's own descriptor with O_NOFOLLOW, and written to a temp name then renamed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import importlib.machinery
import json
import os
import pickle
import secrets
import stat
import struct
import sys
from pathlib import Path
from typing import Any, Literal

from beanagent import __version__
from beanagent.ledger.load import paused_gc
from beanagent.model import Ledger

CacheState = Literal["hit", "miss", "off", "rejected"]
LoadResult = tuple[list[Any], list[Any], dict[str, Any]]  # beancount's entries, errors, options

ENV_DIR = "BEANAGENT_CACHE_DIR"  # the user's own environment: where cache files go (tests)
MAGIC = b"BAGLOAD\n"
FORMAT = 1
KEY_NAME = "cache.key"
KEY_BYTES = 32
SUFFIX = ".load"
MAX_PAYLOAD = 512 * 2**20  # a larger pickle is not cached (nor read)
_HEAD = struct.Struct(">8sI32sQ")  # magic, format, sha256 of the cache key, payload length
_MAC_BYTES = 32
_PLUGIN_FILES = 2000  # a plugin package with more .py files than this is not cached


class CacheRefused(Exception):
    """A cache folder, key or file that must not be used; the message says why."""


def cache_dir() -> Path:
    env = os.environ.get(ENV_DIR, "")
    if os.path.isabs(env):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "beanagent"


def key_path() -> Path:
    from beanagent.runlog.location import state_home

    return state_home() / "beanagent" / KEY_NAME


# --- the key of a load ------------------------------------------------------------------


def _module_digest(name: str, paths: list[str]) -> str:
    """The sha256 of a plugin module's source (a package: of every .py file in it), found
    as `import` would find it but without importing it; "missing" when it can't be found
    (the load reports that, and a module appearing later changes the key)."""
    spec = None
    search: list[str] | None = paths
    parts = name.split(".")
    for i in range(len(parts)):
        try:
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]), search)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return "missing"
        search = list(spec.submodule_search_locations or [])
    assert spec is not None
    digest = hashlib.sha256()
    files = [Path(spec.origin)] if spec.origin and os.path.isfile(spec.origin) else []
    for folder in spec.submodule_search_locations or []:
        files += sorted(Path(folder).rglob("*.py"))
    if len(files) > _PLUGIN_FILES:
        raise CacheRefused(f"plugin {name} has more than {_PLUGIN_FILES} files")
    for file in files:
        digest.update(str(file).encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _documents(options: dict[str, Any]) -> list[list[str]]:
    """What beancount's `documents` option finds is a folder listing: its file names."""
    base = os.path.dirname(str(options.get("filename") or ""))
    out = []
    for folder in options.get("documents") or []:
        root = os.path.normpath(os.path.join(base, folder))
        names = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(root) for f in fs)
        out.append([root, *names])
    return out


def load_key(ledger: Ledger) -> bytes:
    """Everything a full load's result depends on, as bytes: equal keys, equal loads."""
    from beancount import __version__ as beancount_version

    options = ledger.options
    pythonpath = [str(p) for p in options.get("pythonpath") or []]
    plugins = [[str(name), None if config is None else str(config)]
               for name, config in options.get("plugin") or []]
    key = {
        "format": FORMAT,
        "beanagent": __version__,
        "beancount": beancount_version,
        "python": sys.version,
        "main": str(ledger.path),
        "files": sorted([str(p), f.sha256] for p, f in ledger.files.items()),
        "plugins": plugins,
        "plugin_code": {str(name): _module_digest(str(name), [*pythonpath, *sys.path])
                        for name, _ in plugins},
        "pythonpath": pythonpath,
        "documents": _documents(options),
    }
    return json.dumps(key, sort_keys=True).encode()


# --- the folder and the key file ------------------------------------------------------------


def _require_private(st: os.stat_result, what: str) -> None:
    if st.st_uid != os.getuid():
        raise CacheRefused(f"{what} belongs to another user")
    if st.st_mode & 0o077:
        raise CacheRefused(f"{what} is open to other users (mode {stat.S_IMODE(st.st_mode):o})")


def _open_private_dir(path: Path) -> int:
    """A descriptor on `path`, created 0700 (its missing parents too) when absent; refused
    when it is a symlink, not a folder, not ours or open to others."""
    if not os.path.lexists(path):
        for folder in reversed([path, *path.parents]):
            if not os.path.lexists(folder):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o700)
                    os.chmod(folder, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise CacheRefused(f"{path} is a symbolic link or not a folder") from None
        raise
    try:
        _require_private(os.fstat(fd), str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_private(name: str, dir_fd: int, limit: int) -> bytes:
    """A regular file of ours, 0600 or tighter, never through a symlink."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CacheRefused(f"{name} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CacheRefused(f"{name} is not a regular file")
        _require_private(st, name)
        if st.st_size > limit:
            raise CacheRefused(f"{name} is larger than expected")
        chunks = []
        while chunk := os.read(fd, 2**20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _write_new(name: str, dir_fd: int, *parts: bytes) -> None:
    """`parts` into a new file 0600 at a temp name, renamed to `name`: a reader sees the
    whole file or none."""
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o600)
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view):]
        os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


def read_or_create_key(path: Path) -> bytes:
    """The MAC key, made (32 random bytes) the first time: written to a temp file, then
    linked to its name, which fails when another run made one meanwhile (theirs is used)."""
    dir_fd = _open_private_dir(path.parent)
    try:
        try:
            data = _read_private(path.name, dir_fd, KEY_BYTES)
        except FileNotFoundError:
            temp = f".{path.name}.{secrets.token_hex(6)}.tmp"
            _write_new(temp, dir_fd, secrets.token_bytes(KEY_BYTES))
            try:
                os.link(temp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd,
                        follow_symlinks=False)
            except FileExistsError:
                pass
            finally:
                os.unlink(temp, dir_fd=dir_fd)
            data = _read_private(path.name, dir_fd, KEY_BYTES)
    finally:
        os.close(dir_fd)
    if len(data) != KEY_BYTES:
        raise CacheRefused(f"{path} is not a cache key ({len(data)} bytes); remove it")
    return data


# --- the cache ------------------------------------------------------------------------------


def _mac(key: bytes, head: bytes, payload: bytes | memoryview) -> bytes:
    mac = hmac.new(key, head, hashlib.sha256)
    mac.update(payload)
    return mac.digest()


class LoadCache:
    """One run's use of the cache. `state` says what happened (the audit log records it:
    "miss" until a load was served, then "hit", "miss" or "rejected"); `warning`, at most
    one, is for the user."""

    def __init__(self, directory: Path | None = None, key_file: Path | None = None):
        self.directory = directory or cache_dir()
        self.key_file = key_file or key_path()
        self.state: CacheState = "miss"
        self.warning: str | None = None
        self._pending: tuple[Ledger, bytes, LoadResult] | None = None

    def keep(self, ledger: Ledger, digest: bytes, loaded: LoadResult) -> None:
        """Hold a fresh load for `flush` to write: pickling it costs a quarter of a load,
        which the run need not wait for."""
        self._pending = (ledger, digest, loaded)

    def flush(self) -> None:
        """Write what `keep` holds, if anything."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.store(*pending)

    def _reject(self, why: str) -> None:
        self.state = "rejected"
        if self.warning is None:
            self.warning = (f"load cache not used: {why}; the ledger was loaded in full "
                            "(--no-cache turns the cache off)")

    def _name(self, ledger: Ledger, digest: bytes) -> tuple[str, str]:
        """The file for this key, and the prefix every file for this ledger shares."""
        prefix = hashlib.sha256(str(ledger.path).encode()).hexdigest()[:16]
        return f"{prefix}-{digest.hex()}{SUFFIX}", f"{prefix}-"

    def fetch(self, ledger: Ledger) -> tuple[LoadResult | None, bytes | None]:
        """The cached load of `ledger` (None: load it) and its key's digest (None: don't
        store what is loaded)."""
        try:
            digest = hashlib.sha256(load_key(ledger)).digest()
            name, _ = self._name(ledger, digest)
            dir_fd = _open_private_dir(self.directory)
        except CacheRefused as exc:
            self._reject(str(exc))
            return None, None
        except OSError as exc:
            self._reject(f"{exc.filename or self.directory}: {exc.strerror}")
            return None, None
        try:
            try:
                data = _read_private(name, dir_fd, _HEAD.size + _MAC_BYTES + MAX_PAYLOAD)
            except FileNotFoundError:
                return None, digest
            try:
                key = read_or_create_key(self.key_file)
            except (CacheRefused, OSError) as exc:
                why = str(exc) if isinstance(exc, CacheRefused) else \
                    f"{exc.filename or self.key_file}: {exc.strerror}"
                self._reject(f"the cache key can't be used ({why})")
                return None, None
            try:
                loaded = self._verified(data, digest, key)
            except CacheRefused as exc:
                self._reject(f"{self.directory / name} {exc}; it was removed")
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
                return None, digest
            self.state = "hit"
            return loaded, None
        except CacheRefused as exc:  # a link or a file not ours: removed, never followed
            self._reject(f"{self.directory}/{exc}; it was removed")
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
            return None, digest
        except OSError as exc:
            self._reject(f"{self.directory / name}: {exc.strerror}")
            return None, None
        finally:
            os.close(dir_fd)

    def _verified(self, data: bytes, digest: bytes, key: bytes) -> LoadResult:
        """The payload of a cache file, unpickled only once its MAC is proven."""
        if len(data) < _HEAD.size + _MAC_BYTES:
            raise CacheRefused("is truncated")
        head, mac = data[:_HEAD.size], data[_HEAD.size:_HEAD.size + _MAC_BYTES]
        magic, version, key_digest, length = _HEAD.unpack(head)
        if magic != MAGIC:
            raise CacheRefused("is not a beanagent cache file")
        if version != FORMAT:
            raise CacheRefused(f"has format {version}, not {FORMAT}")
        if key_digest != digest:
            raise CacheRefused("is for other files")
        payload = memoryview(data)[_HEAD.size + _MAC_BYTES:]
        if len(payload) != length:
            raise CacheRefused("is truncated")
        if not hmac.compare_digest(mac, _mac(key, head, payload)):
            raise CacheRefused("failed its authentication (not written by this user's "
                               "beanagent)")
        try:
            with paused_gc():
                loaded = pickle.loads(payload)
        except Exception as exc:  # authentic but unreadable: a bug, never an attack
            raise CacheRefused(f"could not be read ({type(exc).__name__})") from None
        if not (isinstance(loaded, tuple) and len(loaded) == 3):
            raise CacheRefused("holds something else")
        return loaded

    def store(self, ledger: Ledger, digest: bytes, loaded: LoadResult) -> None:
        """Keep `loaded` for the next run, in place of this ledger's older load. Never
        fails a run: a cache that can't be written is one warning."""
        try:
            payload = pickle.dumps(loaded, pickle.HIGHEST_PROTOCOL)
        except Exception:  # a plugin's error holding something unpicklable: not cached
            return
        if len(payload) > MAX_PAYLOAD:
            return
        name, prefix = self._name(ledger, digest)
        try:
            key = read_or_create_key(self.key_file)
            dir_fd = _open_private_dir(self.directory)
        except CacheRefused as exc:
            self._reject(str(exc))
            return
        except OSError as exc:
            self._reject(f"{exc.filename or self.directory}: {exc.strerror}")
            return
        try:
            head = _HEAD.pack(MAGIC, FORMAT, digest, len(payload))
            _write_new(name, dir_fd, head, _mac(key, head, payload), payload)
            for old in os.listdir(dir_fd):  # this ledger's older loads
                if old.startswith(prefix) and old != name and old.endswith(SUFFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(old, dir_fd=dir_fd)
        except OSError as exc:
            if self.warning is None:
                self.warning = f"could not write the load cache {self.directory}: {exc.strerror}"
        finally:
            os.close(dir_fd)
