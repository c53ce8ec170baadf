"""The kernel layers applied to every sandboxed child, in order: death signal, user and
network namespace (where allowed), Landlock, seccomp. Rlimits and closing fds happen in
`server._child_setup` before these.

Prepared once in the server (`Layers()`): the bindings are imported and libseccomp is
located there, because finding a library forks `ldconfig`, which nothing may do after
the filters are on. We use the maintained bindings (landlockpy, pyseccomp over the
system libseccomp); only prctl/unshare are called through ctypes, as the standard
library has no wrapper for them on Python 3.11.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import errno
import os
import signal
import sys
import sysconfig
from collections.abc import Iterator
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

# Denied outright (EPERM). Missing names on this kernel or libseccomp are skipped.
DENY = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "execve", "execveat", "fork", "vfork",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "tkill",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "personality",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "acct", "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "quotactl",
    "open_by_handle_at", "name_to_handle_at", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "ioperm", "iopl",
)


# The sonames the bindings look for (landlockpy: "c"; pyseccomp: "c" and "seccomp"),
# tried with dlopen first: `ctypes.util.find_library` runs `ldconfig -p` on every call,
# three processes and ~20 ms on the path to the first script. A name that doesn't load
# (another libc, another libseccomp soname) is looked up the library's way.
_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


@contextlib.contextmanager
def _quick_find_library() -> Iterator[None]:
    original = ctypes.util.find_library

    def find(name: str) -> str | None:
        soname = _SONAMES.get(name)
        if soname is not None:
            try:
                ctypes.CDLL(soname)
                return soname
            except OSError:
                pass
        return original(name)

    ctypes.util.find_library = find
    try:
        yield
    finally:
        ctypes.util.find_library = original


class LayerError(RuntimeError):
    """A mandatory layer could not be applied; the script must not run."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    if _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def set_death_signal() -> None:
    """Die with the process that started us (the server, or the host for the server)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def make_undumpable() -> None:
    """Other processes of the same user can no longer read our memory or environment
    through /proc (the host holds the API key)."""
    prctl(PR_SET_DUMPABLE, 0)


def python_read_paths() -> list[str]:
    """What a Python process must read to keep importing: its prefixes and sys.path,
    and the system's shared libraries (extension modules link against them)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *sysconfig.get_paths().values()}
    paths.update(p for p in sys.path if p)
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo"))
    return sorted(p for p in paths if os.path.exists(p))


@dataclasses.dataclass(frozen=True)
class Plan:
    """Filesystem access one child gets under Landlock."""

    read: tuple[str, ...]  # directories or files, read-only
    write: tuple[str, ...]  # directories it may create, write and remove in


class Layers:
    """What this kernel offers, prepared once; `apply()` runs in each child."""

    def __init__(self, without: frozenset[str] = frozenset()) -> None:
        """`without` switches layers off, to exercise the weak-sandbox path in tests."""
        off = "switched off by BEANAGENT_SANDBOX_WITHOUT"
        with _quick_find_library():
            self._bind(without, off)
        self.namespaces = "namespaces" not in without and _probe_namespaces()

    def _bind(self, without: frozenset[str], off: str) -> None:
        self.landlock_abi = 0
        self.landlock_error: str | None = off if "landlock" in without else None
        if self.landlock_error is None:
            try:
                import landlockpy

                self.landlock_abi = int(landlockpy.abi_version())
                self._landlock = landlockpy
            except Exception as exc:  # no binding, no kernel support: reported, not fatal
                self.landlock_error = f"{type(exc).__name__}: {exc}"
        self.seccomp_error: str | None = off if "seccomp" in without else None
        if self.seccomp_error is None:
            try:
                import pyseccomp

                pyseccomp.SyscallFilter(pyseccomp.ALLOW)  # locates and loads libseccomp now
                self._seccomp = pyseccomp
            except Exception as exc:
                self.seccomp_error = f"{type(exc).__name__}: {exc}"

    def status(self) -> dict[str, Any]:
        features = {}
        if self.landlock_abi > 0:
            ll = self._landlock
            features = {kind: " ".join(flag.name.lower() for flag in type(flags)
                                       if flag.value and flag in flags and flag.name)
                        for kind, flags in (("filesystem", ll.fs_for_abi(self.landlock_abi)),
                                            ("network", ll.net_for_abi(self.landlock_abi)),
                                            ("scopes", ll.scope_for_abi(self.landlock_abi)))}
        return {"landlock_abi": self.landlock_abi, "landlock_error": self.landlock_error,
                "landlock_features": features,
                "seccomp": self.seccomp_error is None, "seccomp_error": self.seccomp_error,
                "namespaces": self.namespaces}

    def missing(self) -> list[str]:
        """Mandatory layers this machine lacks."""
        out = []
        if self.landlock_abi < 1:
            out.append(f"Landlock ({self.landlock_error or 'not supported by this kernel'})")
        if self.seccomp_error is not None:
            out.append(f"seccomp ({self.seccomp_error})")
        return out

    def enter_namespaces(self) -> bool:
        """A user and network namespace of its own, where the system allows (optional)."""
        return self.namespaces and _unshare(CLONE_NEWUSER | CLONE_NEWNET)

    def apply_filters(self, plan: Plan, strict: bool) -> list[str]:
        """Landlock, then seccomp; in strict mode a failure is fatal."""
        applied = []
        for name, step in (("landlock", self._apply_landlock), ("seccomp", self._apply_seccomp)):
            try:
                step(plan)
                applied.append(name)
            except Exception as exc:
                if strict:
                    raise LayerError(f"{name} could not be applied: {exc}") from None
        return applied

    def _apply_landlock(self, plan: Plan) -> None:
        if self.landlock_abi < 1:
            raise LayerError("Landlock is not available")
        ll = self._landlock
        fs = ll.fs_for_abi(self.landlock_abi)
        net = ll.net_for_abi(self.landlock_abi)
        scope = ll.scope_for_abi(self.landlock_abi)
        read_dir = ll.AccessFS.READ_FILE | ll.AccessFS.READ_DIR
        write_dir = fs & ~ll.AccessFS.EXECUTE & ~ll.AccessFS.MAKE_CHAR & ~ll.AccessFS.MAKE_BLOCK
        with ll.Ruleset(handled_fs=fs, handled_net=net, scoped=scope) as rules:
            for path in plan.read:
                if os.path.isdir(path):
                    rules.allow_path(path, read_dir)
                elif os.path.exists(path):
                    rules.allow_path(path, ll.AccessFS.READ_FILE)
            rules.allow_path("/dev/null", ll.AccessFS.READ_FILE | ll.AccessFS.WRITE_FILE)
            rules.allow_path("/dev/urandom", ll.AccessFS.READ_FILE)
            for path in plan.write:
                rules.allow_path(path, write_dir)
            rules.restrict()

    def _apply_seccomp(self, plan: Plan) -> None:
        if self.seccomp_error is not None:
            raise LayerError("seccomp is not available")
        sc = self._seccomp
        deny = sc.ERRNO(errno.EPERM)
        f = sc.SyscallFilter(sc.ALLOW)
        for name in DENY:
            try:
                f.add_rule(deny, name)
            except Exception:  # this kernel or libseccomp does not know the call
                continue
        # Threads only: clone without CLONE_THREAD makes a process. clone3 hides its
        # flags in memory, so it says "not implemented" and libc falls back to clone.
        f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        # Signals to ourselves only (kill/tgkill/rt_sigqueueinfo with another pid).
        pid = os.getpid()
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            f.add_rule(deny, name, sc.Arg(0, sc.GT, pid))
            f.add_rule(deny, name, sc.Arg(0, sc.LT, pid))
        for request in (TIOCSTI, TIOCLINUX):  # keystrokes into a terminal
            f.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        f.load()


def _unshare(flags: int) -> bool:
    result: int = _libc().unshare(flags)
    return result == 0


def _probe_namespaces() -> bool:
    """Can a child get its own user and network namespace here? Tried in a throwaway
    child so the server itself stays as it is."""
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        os._exit(0 if _unshare(CLONE_NEWUSER | CLONE_NEWNET) else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
