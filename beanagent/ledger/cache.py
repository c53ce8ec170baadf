"""A load cache that can't be forged: the sandbox server's full load of a ledger, kept
between runs. beancount's own `.picklecache` sits beside the ledger, where anyone able to
write the books folder can plant a pickle that runs code when it is loaded; it is off
(ledger/load.py). This cache instead:

- lives in the user's cache folder (`$BEANAGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/beanagent`,
  else `~/.cache/beanagent`), a real folder of ours, 0700, never beside the ledger;
- is keyed by the sha256 of every file the ledger loads (bytes, never mtimes), beancount's,
  beanagent's and Python's versions, and (kept beside the load, compared on every use) the
  plugin list with each plugin module's own bytes, the `pythonpath` option and the listing
  of `documents` folders (what a load reads besides the ledger's files);
- is authenticated: each file is `header | MAC | meta | payload`, the MAC an HMAC-SHA256
  over the header, the meta (JSON) and the payload with a 32-byte key kept in the user's
  state folder (`$XDG_STATE_HOME/beanagent/cache.key`, 0600), checked with
  `hmac.compare_digest` before anything is used. The header holds a magic, the format
  version, the sha256 of the cache key and the two lengths.

Who does what: the host (it holds the MAC key) finds the file and authenticates it, then
tells the sandbox server where the payload lies and its sha256; the server (which never sees
the key: it forks the agent's script children) reads those bytes, checks their sha256, and
only then unpickles them. On a miss the server pickles its own load in a forked child while
the run goes on, and the host authenticates and writes it at the end (sandbox/runner.py).

Anything that does not fit (a MAC, key, version or length that differs, a truncated or
unreadable file, a symlink, a file or folder that is not ours or is open to others) is one
warning and a normal load; a bad cache file is removed. Every file is opened relative to
the folder's own descriptor with O_NOFOLLOW, and written to a temp name then renamed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import hmac
import importlib.machinery
import importlib.util
import json
import os
import secrets
import stat
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from beanagent import __version__

CacheState = Literal["hit", "miss", "off", "rejected"]

ENV_DIR = "BEANAGENT_CACHE_DIR"  # the user's own environment: where cache files go (tests)
MAGIC = b"BAGLOAD\n"
FORMAT = 2
KEY_NAME = "cache.key"
KEY_BYTES = 32
SUFFIX = ".load"
MAX_PAYLOAD = 512 * 2**20  # a larger pickle is not cached (nor read)
_HEAD = struct.Struct(">8sI32sQQ")  # magic, format, sha256 of the key, meta and payload lengths
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


def _documents(options: Mapping[str, Any]) -> list[list[str]]:
    """What beancount's `documents` option finds is a folder listing: its file names."""
    base = os.path.dirname(str(options.get("filename") or ""))
    out = []
    for folder in options.get("documents") or []:
        root = os.path.normpath(os.path.join(base, folder))
        names = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(root) for f in fs)
        out.append([root, *names])
    return out


def load_key(main: Path, files: Mapping[str, str]) -> bytes:
    """What a full load's result depends on that is known before loading, as bytes: the
    files' bytes (`files`: path -> sha256), the main file and the versions. What only the
    load knows (its plugins, pythonpath, documents folders) is `options_key`, kept in the
    file beside the load and compared again on every use."""
    key = {
        "format": FORMAT,
        "beanagent": __version__,
        "beancount": beancount_version(),
        "python": sys.version,
        "main": str(main),
        "files": sorted([str(p), sha] for p, sha in files.items()),
    }
    return json.dumps(key, sort_keys=True).encode()


def beancount_version() -> str:
    """beancount's version, read as its package reads it (`beancount/__init__.py`: the
    VERSION file beside it, stripped) without importing the package, which imports its
    whole API (~50 ms, on the path to a cached run's first script); imported where the
    file isn't there."""
    spec = importlib.util.find_spec("beancount")
    if spec is not None and spec.origin is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return (Path(spec.origin).parent / "VERSION").read_text(encoding="utf-8").strip()
    import beancount

    return str(beancount.__version__)


def options_key(options: Mapping[str, Any]) -> dict[str, Any]:
    """The rest of a load's key, from its options: the plugins with each module's own
    bytes, the `pythonpath` option and the listing of the `documents` folders."""
    pythonpath = [str(p) for p in options.get("pythonpath") or []]
    plugins = [[str(name), None if config is None else str(config)]
               for name, config in options.get("plugin") or []]
    return {
        "plugins": plugins,
        "plugin_code": {str(name): _module_digest(str(name), [*pythonpath, *sys.path])
                        for name, _ in plugins},
        "pythonpath": pythonpath,
        "documents": _documents(options),
    }


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


def _mac(key: bytes, *parts: bytes | memoryview) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


@dataclasses.dataclass(frozen=True)
class Hit:
    """A cached load, authenticated: where its payload lies, and the payload's sha256 that
    the sandbox server checks on the bytes it reads before unpickling them."""

    path: str
    offset: int
    length: int
    sha256: str


class LoadCache:
    """One run's use of the cache. The host (which holds the MAC key) finds and
    authenticates a cached load; the sandbox server (which never sees the key) reads it,
    checking the payload's sha256, or loads in full and pickles its load for `store`.
    `state` says what happened (the audit log records it: "hit", "miss" or "rejected");
    `warning`, at most one, is for the user."""

    def __init__(self, directory: Path | None = None, key_file: Path | None = None):
        self.directory = directory or cache_dir()
        self.key_file = key_file or key_path()
        self.state: CacheState = "miss"
        self.warning: str | None = None
        self.digest: bytes | None = None  # the key of this run's files: what is stored
        self.files: list[str] = []  # the files the key covers

    def adopt(self, other: LoadCache) -> None:
        """Take over what another instance found for this run (the one the command's
        early start used: sandbox/early.py): its key, files, state and warning."""
        self.digest, self.files = other.digest, other.files
        self.state, self.warning = other.state, other.warning

    def _reject(self, why: str) -> None:
        self.state = "rejected"
        if self.warning is None:
            self.warning = (f"load cache not used: {why}; the ledger was loaded in full "
                            "(--no-cache turns the cache off)")

    def _name(self, main: Path, digest: bytes) -> tuple[str, str]:
        """The file for this key, and the prefix every file for this ledger shares."""
        prefix = hashlib.sha256(str(main).encode()).hexdigest()[:16]
        return f"{prefix}-{digest.hex()}{SUFFIX}", f"{prefix}-"

    def fetch(self, main: Path) -> Hit | None:
        """The cached load of the ledger `main` (absolute), authenticated, or None: load
        it (and `digest` says whether what is loaded may be stored)."""
        from beanagent.ledger.load import require_plain_includes

        try:
            found = require_plain_includes(main)
            files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in found}
        except Exception:
            return None
        try:
            digest = hashlib.sha256(load_key(main, files)).digest()
            name, _ = self._name(main, digest)
            dir_fd = _open_private_dir(self.directory)
        except CacheRefused as exc:
            self._reject(str(exc))
            return None
        except OSError as exc:
            self._reject(f"{exc.filename or self.directory}: {exc.strerror}")
            return None
        self.digest, self.files = digest, sorted(files)
        try:
            try:
                data = _read_private(name, dir_fd, _HEAD.size + _MAC_BYTES + MAX_PAYLOAD)
            except FileNotFoundError:
                return None
            try:
                key = read_or_create_key(self.key_file)
            except (CacheRefused, OSError) as exc:
                why = str(exc) if isinstance(exc, CacheRefused) else \
                    f"{exc.filename or self.key_file}: {exc.strerror}"
                self._reject(f"the cache key can't be used ({why})")
                self.digest = None
                return None
            try:
                hit = self._verified(data, digest, key, str(self.directory / name))
            except CacheRefused as exc:
                self._reject(f"{self.directory / name} {exc}; it was removed")
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
                return None
            return hit
        except CacheRefused as exc:  # a link or a file not ours: removed, never followed
            self._reject(f"{self.directory}/{exc}; it was removed")
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
            return None
        except OSError as exc:
            self._reject(f"{self.directory / name}: {exc.strerror}")
            return None
        finally:
            os.close(dir_fd)

    def _verified(self, data: bytes, digest: bytes, key: bytes, path: str) -> Hit | None:
        """Where the payload of an authentic cache file for these files lies; None when it
        was made with other plugins, plugin code or documents (a miss: replaced later)."""
        if len(data) < _HEAD.size + _MAC_BYTES:
            raise CacheRefused("is truncated")
        head, mac = data[:_HEAD.size], data[_HEAD.size:_HEAD.size + _MAC_BYTES]
        magic, version, key_digest, meta_length, length = _HEAD.unpack(head)
        if magic != MAGIC:
            raise CacheRefused("is not a beanagent cache file")
        if version != FORMAT:
            raise CacheRefused(f"has format {version}, not {FORMAT}")
        if key_digest != digest:
            raise CacheRefused("is for other files")
        start = _HEAD.size + _MAC_BYTES
        if len(data) != start + meta_length + length:
            raise CacheRefused("is truncated")
        body = memoryview(data)[start:]
        if not hmac.compare_digest(mac, _mac(key, head, body)):
            raise CacheRefused("failed its authentication (not written by this user's "
                               "beanagent)")
        try:  # authentic: written by our own `store`
            meta = json.loads(bytes(body[:meta_length]))
            if meta["include"] != self.files:
                return None
            if meta["options_key"] != options_key(meta["options"]):
                return None
        except CacheRefused:
            return None
        except Exception as exc:  # authentic but unreadable: a bug, never an attack
            raise CacheRefused(f"could not be read ({type(exc).__name__})") from None
        payload = body[meta_length:]
        return Hit(path, start + meta_length, length, hashlib.sha256(payload).hexdigest())

    def store(self, main: Path, payload: bytes, options: Mapping[str, Any]) -> None:
        """Keep the server's pickled load for the next run, in place of this ledger's older
        load, when it loaded exactly the files the key covers. Never fails a run: a cache
        that can't be written is one warning."""
        digest = self.digest
        include = sorted(str(p) for p in options.get("include") or [])
        if digest is None or include != self.files or len(payload) > MAX_PAYLOAD:
            return
        name, prefix = self._name(main, digest)
        try:
            plain = {k: options.get(k) for k in ("plugin", "pythonpath", "documents",
                                                 "filename")}
            meta = json.dumps({"include": include, "options": plain,
                               "options_key": options_key(plain)}, sort_keys=True).encode()
            key = read_or_create_key(self.key_file)
            dir_fd = _open_private_dir(self.directory)
        except CacheRefused as exc:
            self._reject(str(exc))
            return
        except OSError as exc:
            self._reject(f"{exc.filename or self.directory}: {exc.strerror}")
            return
        try:
            head = _HEAD.pack(MAGIC, FORMAT, digest, len(meta), len(payload))
            _write_new(name, dir_fd, head, _mac(key, head, meta, payload), meta, payload)
            for old in os.listdir(dir_fd):  # this ledger's older loads
                if old.startswith(prefix) and old != name and old.endswith(SUFFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(old, dir_fd=dir_fd)
        except OSError as exc:
            if self.warning is None:
                self.warning = f"could not write the load cache {self.directory}: {exc.strerror}"
        finally:
            os.close(dir_fd)
