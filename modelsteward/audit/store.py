"""The local ledger file: durable appends from many threads and processes into one chain.

Layout under the ledger directory (``$STEWARD_HOME/ledger``):

- ``ledger.jsonl``: the records, one line each (format in :mod:`.records`), append only.
- ``ledger.sync``: a 64-byte note of how far the file is known to be on disk (group commit).
- ``discarded.jsonl``: the bytes of partial records cut off after a crash, kept for forensics.

**One chain.** Each append takes an exclusive ``flock`` on ``ledger.jsonl`` (and a thread lock,
since ``flock`` is per open file), learns the tail (seq, hash), writes its line with one
``write`` in ``O_APPEND`` mode and releases the lock. The critical section is a few
microseconds: the tail is cached in-process and trusted only while the file's size and inode are
what this process left them; otherwise the last line is read back.

**Durable before return, with group commit.** After its write, an appender needs the file on
disk up to the end of its line. It takes the sync lock (``flock`` on ``ledger.sync``); if another
appender already synced past its line while it waited, it returns at once; otherwise it reads
the current size of the file, calls ``fdatasync`` once for everything written so far by every
process, and publishes that offset. Concurrent appenders
thus share one ``fdatasync``: throughput grows with the number of writers instead of being
capped by one disk flush per record. The published offset is tagged with the boot id and the
file's inode, so it is never trusted after a reboot (the page cache is gone) or a file swap.

**Space ahead.** The file's next few MB are allocated with ``fallocate(KEEP_SIZE)`` (the size,
and so the JSON Lines content, is unchanged), so an append does not make ``fdatasync`` allocate
blocks too.

**Crash safety.** A writer killed in the middle of its ``write`` leaves a last line without
``\\n``. The next appender (under the lock) detects it, copies it to ``discarded.jsonl``, cuts it
off, logs a warning and chains onto the last complete record: a partial record is never merged.
Readers ignore an unterminated last line. A published sync offset never covers such a tail.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import sys
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from modelsteward.audit.records import GENESIS_HASH, Draft, format_ts
from modelsteward.errors import LedgerIntegrityError, StorageError

__all__ = ["LocalStore", "Tail"]

log = logging.getLogger(__name__)

_SYNC_MAGIC = b"SLSYNC01"
_SYNC_FORMAT = "<8s36sQQ"  # magic, boot id, inode, durable offset
_SYNC_SIZE = struct.calcsize(_SYNC_FORMAT)
_READ_CHUNK = 1 << 20


def _boot_id() -> bytes:
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        # No boot id: make the shared note private to this process (each syncs for itself).
        text = os.urandom(18).hex()
    return text.encode()[:36].ljust(36, b"-")


_BOOT_ID = _boot_id()


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data itself is synced
    finally:
        os.close(fd)


_RESERVE_BYTES = 4 << 20
_FALLOC_FL_KEEP_SIZE = 1


def _load_fallocate() -> Any:
    """glibc's ``fallocate(2)`` (os has no flags argument), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.fallocate
        function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        function.restype = ctypes.c_int
        return function
    except (OSError, AttributeError):
        return None


_FALLOCATE = _load_fallocate()


def _reserve(fd: int, offset: int, length: int) -> int:
    """Allocate disk blocks for the next ``length`` bytes without changing the file size.

    Appends into allocated blocks spare ``fdatasync`` the block allocation, a good part of
    its metadata work. Returns the offset to try again from; a filesystem that cannot
    reserve (or a platform without ``fallocate``) only costs speed, never correctness.
    """
    if _FALLOCATE is not None:
        _FALLOCATE(fd, _FALLOC_FL_KEEP_SIZE, offset, length)
    return offset + length


_OPEN_STORES: weakref.WeakSet[LocalStore] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for store in list(_OPEN_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Tail:
    """Where the chain ends: file size and inode, last seq and hash."""

    __slots__ = ("hash", "ino", "seq", "size")

    def __init__(self, size: int, ino: int, seq: int, hash: str) -> None:
        self.size = size
        self.ino = ino
        self.seq = seq
        self.hash = hash


class LocalStore:
    """Append-only JSON Lines file shared by every thread and process of this machine."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "ledger.jsonl"
        self.sync_path = self.directory / "ledger.sync"
        self.discarded_path = self.directory / "discarded.jsonl"
        self._mutex = threading.Lock()
        self._sync_mutex = threading.Lock()
        self._pid = -1
        self._fd = -1
        self._sync_fd = -1
        self._tail: Tail | None = None
        self._durable = (0, 0)  # (inode, offset) known durable by this process
        self._reserved = 0  # disk space allocated ahead of the end (size unchanged)

    # --- files ----------------------------------------------------------------------------
    def _open(self) -> int:
        """The data file descriptor, reopened after a fork (locks are per open file)."""
        if self._pid != os.getpid():
            self.directory.mkdir(parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            try:
                created = not self.path.exists()
                self._fd = os.open(self.path, flags, 0o600)
                if created:  # make the new file's name durable too
                    _fsync_directory(self.directory)
                self._sync_fd = os.open(
                    self.sync_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600
                )
            except OSError as err:
                raise StorageError(
                    f"cannot open the audit ledger at {self.path}: {err.strerror}; check that "
                    "STEWARD_HOME is writable"
                ) from err
            self._pid = os.getpid()
            self._tail = None
            self._durable = (0, 0)
            self._reserved = 0
            _OPEN_STORES.add(self)
        return self._fd

    def _still_linked(self, st: os.stat_result) -> bool:
        """Is our open file still the one at ``self.path`` (not deleted, moved or replaced)?"""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev)

    def _reopen(self) -> int:
        """Reopen after the file at our path was deleted or replaced (caller holds the mutex)."""
        log.warning(
            "event=ledger_file_replaced path=%s action=reopen "
            "hint=run_steward_audit_verify_against_the_sealed_checkpoints",
            self.path,
        )
        for fd in (self._fd, self._sync_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pid = -1
        return self._open()

    def _after_fork_in_child(self) -> None:
        """A forked child starts with fresh locks and reopens its files on first use."""
        self._mutex = threading.Lock()
        self._sync_mutex = threading.Lock()
        self._pid = -1
        self._tail = None

    def close(self) -> None:
        with self._sync_mutex, self._mutex:
            if self._pid == os.getpid():
                os.close(self._fd)
                os.close(self._sync_fd)
            self._pid = -1
            self._fd = self._sync_fd = -1
            self._tail = None

    # --- append ---------------------------------------------------------------------------
    def append(
        self, draft: Draft, *, now: datetime | None = None
    ) -> tuple[int, datetime, str, str]:
        """Write ``draft`` as the next record; durable on return.

        Returns (seq, ts, prev_hash, hash) of the record written.
        """
        with self._mutex:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                st = os.fstat(fd)
                if not self._still_linked(st):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    fd = self._reopen()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    st = os.fstat(fd)
                tail = self._tail
                if tail is None or tail.size != st.st_size or tail.ino != st.st_ino:
                    tail = self._read_tail(fd, st.st_size, st.st_ino)
                seq = tail.seq + 1
                moment = now or datetime.now(UTC)
                line, digest = draft.seal(seq=seq, ts=format_ts(moment), prev_hash=tail.hash)
                end = tail.size + len(line)
                if end > self._reserved:
                    self._reserved = _reserve(fd, tail.size, _RESERVE_BYTES)
                self._write_all(fd, line, tail.size)
                self._tail = Tail(end, tail.ino, seq, digest)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        self._make_durable(tail.ino, end)
        return seq, moment, tail.hash, digest

    def _write_all(self, fd: int, line: bytes, size: int) -> None:
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, f"short write ({written} of {len(line)} bytes)")
        except OSError as err:
            self._tail = None
            try:
                os.ftruncate(fd, size)  # never leave a partial record behind
            except OSError:
                log.exception("event=ledger_truncate_failed path=%s size=%d", self.path, size)
            raise StorageError(
                f"cannot append to the audit ledger {self.path}: {err.strerror or err}; "
                "nothing was recorded (free disk space and retry)"
            ) from err

    def _make_durable(self, ino: int, end: int) -> None:
        """Return once the file is on disk up to ``end``, sharing one fdatasync with others."""
        with self._sync_mutex:
            known_ino, known = self._durable
            if known_ino == ino and known >= end:
                return
            fd = self._fd
            fcntl.flock(self._sync_fd, fcntl.LOCK_EX)
            try:
                # Every byte below the current size belongs to a write that finished, or to
                # the one in progress (whose writer ends past ``size`` and syncs for itself):
                # writes are serialised, so no lock is needed to read it. Publish it only at
                # a record boundary, so a crashed writer's partial tail is never claimed.
                size = os.fstat(fd).st_size
                complete = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
                shared = self._read_sync(ino)
                if end <= shared <= size:
                    self._durable = (ino, shared)
                    return
                try:
                    os.fdatasync(fd)
                except OSError as err:
                    raise StorageError(
                        f"fdatasync of the audit ledger {self.path} failed: {err.strerror}; "
                        "the record may not survive a power loss"
                    ) from err
                if complete:
                    os.pwrite(
                        self._sync_fd,
                        struct.pack(_SYNC_FORMAT, _SYNC_MAGIC, _BOOT_ID, ino, size),
                        0,
                    )
                    self._durable = (ino, size)
            finally:
                fcntl.flock(self._sync_fd, fcntl.LOCK_UN)

    def _read_sync(self, ino: int) -> int:
        raw = os.pread(self._sync_fd, _SYNC_SIZE, 0)
        if len(raw) != _SYNC_SIZE:
            return 0
        magic, boot, note_ino, offset = struct.unpack(_SYNC_FORMAT, raw)
        if magic != _SYNC_MAGIC or boot != _BOOT_ID or note_ino != ino:
            return 0
        return int(offset)

    # --- tail -----------------------------------------------------------------------------
    def _read_tail(self, fd: int, size: int, ino: int) -> Tail:
        """The last complete record; a partial last line is cut off (caller holds the lock)."""
        if size == 0:
            return Tail(0, ino, 0, GENESIS_HASH)
        end = size
        if os.pread(fd, 1, size - 1) != b"\n":
            end = self._last_newline(fd, size) + 1
            self._discard(fd, end, size)
            if end == 0:
                return Tail(0, ino, 0, GENESIS_HASH)
        start = self._last_newline(fd, end - 1) + 1
        line = os.pread(fd, end - start, start)
        try:
            data = orjson.loads(line)
            seq, digest = int(data["seq"]), str(data["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise LedgerIntegrityError(
                f"the last record of {self.path} (byte {start}) is unreadable; refusing to "
                "chain onto it. Run `steward audit verify` to find the damage",
                reason="changed",
            ) from err
        return Tail(end, ino, seq, digest)

    @staticmethod
    def _last_newline(fd: int, end: int) -> int:
        """Offset of the last ``\\n`` before ``end``, or -1."""
        pos = end
        while pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(fd, pos - start, start)
            found = chunk.rfind(b"\n")
            if found >= 0:
                return start + found
            pos = start
        return -1

    def _discard(self, fd: int, end: int, size: int) -> None:
        partial = os.pread(fd, size - end, end)
        log.warning(
            "event=ledger_partial_record_discarded path=%s offset=%d bytes=%d "
            "reason=crash_during_append kept=%s",
            self.path,
            end,
            len(partial),
            self.discarded_path,
        )
        entry = orjson.dumps(
            {
                "discarded_at": format_ts(datetime.now(UTC)),
                "offset": end,
                "bytes": partial.decode("utf-8", "backslashreplace"),
            }
        )
        with open(self.discarded_path, "ab") as out:
            out.write(entry + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.ftruncate(fd, end)
        os.fsync(fd)

    def last_line(self) -> bytes | None:
        """The last complete line (without newline), read from the end of the file."""
        try:
            with open(self.path, "rb") as handle:
                fd = handle.fileno()
                size = os.fstat(fd).st_size
                end = self._last_newline(fd, size) + 1
                if end == 0:
                    return None
                start = self._last_newline(fd, end - 1) + 1
                return os.pread(fd, end - 1 - start, start)
        except FileNotFoundError:
            return None

    # --- read -----------------------------------------------------------------------------
    def lines(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset, line without newline) of every complete line from byte ``start``.

        An unterminated last line (an append in progress or a crashed one) is not yielded.
        """
        try:
            handle = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        with handle:
            handle.seek(start)
            offset = start
            rest = b""
            while True:
                chunk = handle.read(_READ_CHUNK)
                if not chunk:
                    return
                data = rest + chunk if rest else chunk
                pieces = data.split(b"\n")
                rest = pieces.pop()
                for piece in pieces:
                    yield offset, piece
                    offset += len(piece) + 1

    def partial_tail(self) -> bytes:
        """The bytes after the last newline (an unterminated last line), or b""."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size == 0:
                    return b""
                end = self._last_newline(handle.fileno(), size) + 1
                return os.pread(handle.fileno(), size - end, end)
        except FileNotFoundError:
            return b""

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0
