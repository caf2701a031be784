"""The local ledger file: durable appends from many threads and processes into one chain.

Layout under the ledger directory (``$STEWARD_HOME/ledger``):

- ``ledger.jsonl``: the records, one line each (format in :mod:`.records`), followed by zero
  bytes: space allocated ahead of the records (see below). Readers stop at the zeros;
  ``steward audit export`` writes the records alone.
- ``ledger.sync``: two small notes every process shares: where the chain ends (byte offset,
  seq, hash) and how far the file is known to be on disk (group commit).
- ``discarded.jsonl``: the bytes of partial records cut off after a crash, kept for forensics.

**One chain.** Each append takes an exclusive ``flock`` on ``ledger.jsonl`` (and a thread lock,
since ``flock`` is per open file), reads the tail note, checks that the file really ends there
(a newline, then a zero byte or the end of the file), writes its line at that offset with one
``pwrite``, updates the note and releases the lock: a few microseconds.

**Space ahead, and why.** ``fdatasync`` after a write that grows a file must also commit the
new size through the filesystem journal; a write into space the file already holds needs only
its data flushed. The file therefore grows 4 MiB at a time (``posix_fallocate``: the space reads
as zeros, nothing is written) and records are written into that space. The hot path also never
asks the kernel for the ledger's timestamps (no ``stat`` of it; ``statx`` for the inode only):
since Linux 6.13 such a query makes the next write stamp a fine-grained ctime, which puts the
inode back into the journal. ``benchmarks/bench_ledger.py`` measures the floor both ways.

**Durable before return, with group commit.** After its write, an appender needs the file on
disk up to the end of its line. It takes the sync lock (``flock`` on ``ledger.sync``); if another
appender already synced past its line while it waited, it returns at once; otherwise it reads
the tail note (everything before it was written by a finished ``pwrite``), calls ``fdatasync``
once for everything written so far by every process, and publishes that offset. Concurrent
appenders thus share one ``fdatasync``: throughput grows with the number of writers instead of
being capped by one disk flush per record. Both notes are tagged with the boot id and the
file's inode, so they are never trusted after a reboot (the page cache is gone) or a file swap.

**Crash safety.** A writer killed in the middle of its ``pwrite`` leaves a last line without
``\\n`` past the noted end; one killed before updating the note leaves a complete record
past it. The next appender sees a non-zero byte where the note says the file ends (or no
valid note: after a reboot it is never trusted) and rescans the tail: complete records are
kept; a partial line, and everything after the first zero byte of the recent bytes (a power
loss can persist a later page of unacknowledged records without an earlier one), is copied
to ``discarded.jsonl``, cut off and logged. A partial record is never merged. Readers ignore an
unterminated last line. A published sync offset never covers such a tail.

**Faults.** A failed ``fdatasync`` stops this process from appending (Linux reports a lost
writeback once, so a later flush would succeed without it). A forked child closes the
descriptors it inherited, whose ``flock`` it would otherwise share with its parent. A ledger
file replaced under a running process is flushed and reopened; its old descriptors stay open
until :meth:`LocalStore.close`, so an appender still syncing with them never touches a reused
number.
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

_SYNC_MAGIC = b"SLSYNC02"
_SYNC_FORMAT = "<8s36sQQQ"  # magic, boot id, inode, generation, durable offset
_SYNC_SIZE = struct.calcsize(_SYNC_FORMAT)
_TAIL_MAGIC = b"SLTAIL01"
_TAIL_FORMAT = "<8s36sQQQQQ64s"  # magic, boot id, inode, generation, end, seq, size, hash
_TAIL_SIZE = struct.calcsize(_TAIL_FORMAT)
_TAIL_OFFSET = 128  # in ledger.sync, after the sync note
_READ_CHUNK = 1 << 20
_RESERVE_BYTES = 4 << 20


def _boot_id() -> bytes:
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        # No boot id: make the shared notes private to this process (each syncs for itself).
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


def _load_statx() -> Any:
    """glibc's ``statx(2)``, to ask for the inode alone (os.stat always asks for the times)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.statx
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_void_p,
        ]
        function.restype = ctypes.c_int
        return function
    except (OSError, AttributeError):
        return None


_STATX = _load_statx()
_AT_FDCWD = -100
_STATX_INO = 0x100


def _identity_key(dev: int, ino: int) -> bytes:
    """Inode and device as ``struct statx`` lays them out (stx_ino; stx_dev_major, _minor)."""
    return struct.pack("<QII", ino, os.major(dev), os.minor(dev))


class _PathIdentity:
    """Which file a path names now, asked without the file's timestamps.

    With ``statx`` only the inode is requested: the kernel then leaves the file's timestamp
    granularity alone (see the module notes on multigrain timestamps). Not thread-safe: the
    store calls it under its mutex.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._encoded = os.fsencode(path)
        self._buffer: Any = None
        if _STATX is not None:
            import ctypes

            self._buffer = ctypes.create_string_buffer(256)

    def __call__(self) -> bytes | None:
        """The identity key of the file at the path, or None when nothing is there."""
        buffer = self._buffer
        if buffer is not None and _STATX(_AT_FDCWD, self._encoded, 0, _STATX_INO, buffer) == 0:
            raw = buffer.raw
            return raw[32:40] + raw[136:144]
        # no statx, ENOENT, or statx refused (old kernel, seccomp): os.stat knows which
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return _identity_key(st.st_dev, st.st_ino)


def _reserve(fd: int, offset: int) -> int:
    """Grow the file by space that reads as zeros; returns the new size (or ``offset``).

    A filesystem that cannot allocate ahead only costs speed: the next write grows the file.
    """
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None:
        return offset
    try:
        allocate(fd, offset, _RESERVE_BYTES)
    except OSError as err:
        log.debug("event=ledger_reserve_failed error=%s", err)
        return offset
    return offset + _RESERVE_BYTES


def _last_nonzero(fd: int, size: int) -> int:
    """The offset just past the last non-zero byte below ``size`` (0 for an all-zero file)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _READ_CHUNK)
        chunk = os.pread(fd, pos - start, start)
        kept = chunk.rstrip(b"\0")
        if kept:
            return start + len(kept)
        pos = start
    return 0


def _last_newline(fd: int, end: int) -> int:
    """Offset of the last ``\n`` before ``end``, or -1."""
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        chunk = os.pread(fd, pos - start, start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found
        pos = start
    return -1


def content_bounds(fd: int) -> tuple[int, int]:
    """(end of the complete records, end of the written bytes) of an open ledger file.

    Bytes between the two are a partial record (a crash during an append, or an append in
    progress); after the second come the zero bytes allocated ahead.
    """
    content = _last_nonzero(fd, os.fstat(fd).st_size)
    return _last_newline(fd, content) + 1, content


_OPEN_STORES: weakref.WeakSet[LocalStore] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for store in list(_OPEN_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Tail:
    """Where the chain ends: byte offset, last seq and hash, and the file's size.

    ``generation`` changes whenever the tail was found by rescanning the file instead of from
    the note (a crash, a reboot, a file changed by hand): a durable offset published for one
    generation is never trusted for another.
    """

    __slots__ = ("end", "generation", "hash", "seq", "size")

    def __init__(self, end: int, seq: int, hash: str, size: int, generation: int) -> None:
        self.end = end
        self.seq = seq
        self.hash = hash
        self.size = size
        self.generation = generation


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
        self._path_identity = _PathIdentity(self.path)
        self._identity = b""  # _identity_key of the open file
        self._ino = 0
        self._durable = (0, 0, 0)  # (inode, generation, offset) known durable here
        self._retired: list[int] = []  # descriptors of a replaced file, closed by close()
        self._failed: str | None = None  # set for good when an fdatasync fails

    # --- files ----------------------------------------------------------------------------
    def _open(self) -> int:
        """The data file descriptor, reopened after a fork (locks are per open file)."""
        if self._pid != os.getpid():
            self.directory.mkdir(parents=True, exist_ok=True)
            cloexec = getattr(os, "O_CLOEXEC", 0)
            fd = -1
            try:
                created = not (self.path.exists() and self.sync_path.exists())
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | cloexec, 0o600)
                sync_fd = os.open(self.sync_path, os.O_RDWR | os.O_CREAT | cloexec, 0o600)
                if created:  # make the new files' names durable too
                    _fsync_directory(self.directory)
            except OSError as err:
                if fd >= 0:
                    os.close(fd)
                raise StorageError(
                    f"cannot open the audit ledger at {self.path}: {err.strerror}; check that "
                    "STEWARD_HOME is writable"
                ) from err
            self._fd, self._sync_fd = fd, sync_fd
            st = os.fstat(self._fd)
            self._identity = _identity_key(st.st_dev, st.st_ino)
            self._ino = st.st_ino
            self._pid = os.getpid()
            self._durable = (0, 0, 0)
            _OPEN_STORES.add(self)
        return self._fd

    def _reopen(self) -> int:
        """Reopen after the file at our path was deleted or replaced (caller holds the mutex)."""
        log.warning(
            "event=ledger_file_replaced path=%s action=reopen "
            "hint=run_steward_audit_verify_against_the_sealed_checkpoints",
            self.path,
        )
        # Records written to the old file are flushed now; its descriptors stay open (until
        # close) so that an appender still syncing with them never touches a reused number.
        with contextlib.suppress(OSError):
            os.fdatasync(self._fd)
        self._retired += [self._fd, self._sync_fd]
        self._pid = -1
        return self._open()

    def _after_fork_in_child(self) -> None:
        """A forked child starts with fresh locks and reopens its files on first use.

        The inherited descriptors are closed: a ``flock`` belongs to the open file, which the
        child shares with the parent, so an idle child holding them would keep the parent's
        locks alive if the parent died holding one.
        """
        for fd in (self._fd, self._sync_fd, *self._retired):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._sync_fd = -1
        self._retired = []
        self._mutex = threading.Lock()
        self._sync_mutex = threading.Lock()
        self._pid = -1

    def close(self) -> None:
        with self._sync_mutex, self._mutex:
            if self._pid == os.getpid():
                for fd in (self._fd, self._sync_fd, *self._retired):
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._pid = -1
            self._fd = self._sync_fd = -1
            self._retired = []

    # --- append ---------------------------------------------------------------------------
    def append(
        self, draft: Draft, *, now: datetime | None = None
    ) -> tuple[int, datetime, str, str]:
        """Write ``draft`` as the next record; durable on return.

        Returns (seq, ts, prev_hash, hash) of the record written.
        """
        with self._mutex:
            if self._failed is not None:
                raise StorageError(self._failed)
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._path_identity() != self._identity:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    fd = self._reopen()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._load_tail(fd)
                seq = tail.seq + 1
                moment = now or datetime.now(UTC)
                line, digest = draft.seal(seq=seq, ts=format_ts(moment), prev_hash=tail.hash)
                end = tail.end + len(line)
                size = tail.size
                if end > size:
                    size = max(end, _reserve(fd, tail.end))
                self._write_all(fd, line, tail.end)
                try:
                    self._save_tail(Tail(end, seq, digest, size, tail.generation))
                except OSError as err:
                    self._undo(fd, line, tail.end)
                    raise StorageError(
                        f"cannot update the tail note {self.sync_path}: {err.strerror or err}; "
                        "nothing was recorded"
                    ) from err
                # what the sync below needs, as it is now: another thread may reopen meanwhile
                files = (fd, self._sync_fd, self._ino)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        self._make_durable(end, tail.generation, files)
        return seq, moment, tail.hash, digest

    def _undo(self, fd: int, line: bytes, offset: int) -> None:
        """Zero a record that must not count (the next rescan would otherwise adopt it)."""
        try:
            os.pwrite(fd, bytes(len(line)), offset)
        except OSError:
            log.exception("event=ledger_undo_failed path=%s offset=%d", self.path, offset)

    def _write_all(self, fd: int, line: bytes, offset: int) -> None:
        try:
            written = os.pwrite(fd, line, offset)
            if written != len(line):
                raise OSError(28, f"short write ({written} of {len(line)} bytes)")
        except OSError as err:
            self._undo(fd, line, offset)  # never leave a partial record behind
            raise StorageError(
                f"cannot append to the audit ledger {self.path}: {err.strerror or err}; "
                "nothing was recorded (free disk space and retry)"
            ) from err

    def _make_durable(self, end: int, generation: int, files: tuple[int, int, int]) -> None:
        """Return once the file is on disk up to ``end``, sharing one fdatasync with others.

        ``files``: the (data, sync) descriptors and inode the record was written with.
        """
        fd, sync_fd, ino = files
        with self._sync_mutex:
            if self._durable[:2] == (ino, generation) and self._durable[2] >= end:
                return
            try:
                fcntl.flock(sync_fd, fcntl.LOCK_EX)
                shared = self._read_sync(sync_fd, ino, generation)
                if shared >= end:
                    self._durable = (ino, generation, shared)
                    return
                # Everything before the noted tail was written by a pwrite that returned:
                # one fdatasync makes it all durable, for every writer waiting behind us.
                noted = self._peek_tail_note(sync_fd, ino)
                if noted is None or noted.generation != generation or noted.end != end:
                    # others wrote after us: read their end under the data lock
                    with self._mutex:
                        try:
                            fcntl.flock(fd, fcntl.LOCK_EX)
                            noted = self._read_tail_note(sync_fd, ino)
                        except _Rebooted:
                            noted = None
                        finally:
                            fcntl.flock(fd, fcntl.LOCK_UN)
                written = end
                if noted is not None and noted.generation == generation:
                    written = max(end, noted.end)
                try:
                    os.fdatasync(fd)
                except OSError as err:
                    # Linux reports a failed writeback once and drops the pages: a later
                    # fdatasync would succeed without them. Nothing more is acknowledged here.
                    self._failed = (
                        f"an fdatasync of the audit ledger {self.path} failed in this process "
                        f"({err.strerror}); records written since may be lost, so it appends no "
                        "more: restart it and run `steward audit verify`"
                    )
                    raise StorageError(
                        f"fdatasync of the audit ledger {self.path} failed: {err.strerror}; "
                        "the record may not survive a power loss"
                    ) from err
                os.pwrite(
                    sync_fd,
                    struct.pack(_SYNC_FORMAT, _SYNC_MAGIC, _BOOT_ID, ino, generation, written),
                    0,
                )
                self._durable = (ino, generation, written)
            finally:
                fcntl.flock(sync_fd, fcntl.LOCK_UN)

    def _peek_tail_note(self, sync_fd: int, ino: int) -> Tail | None:
        """The tail note read without the data lock (a writer may be rewriting it).

        Only used to see that the note still ends at our own record: then our own end is
        all there is to publish, and a torn read can at worst make us take the lock.
        """
        try:
            return self._read_tail_note(sync_fd, ino)
        except _Rebooted:
            return None

    def _read_sync(self, sync_fd: int, ino: int, generation: int) -> int:
        raw = os.pread(sync_fd, _SYNC_SIZE, 0)
        if len(raw) != _SYNC_SIZE:
            return 0
        magic, boot, note_ino, note_generation, offset = struct.unpack(_SYNC_FORMAT, raw)
        if (magic, boot, note_ino, note_generation) != (_SYNC_MAGIC, _BOOT_ID, ino, generation):
            return 0
        return int(offset)

    # --- tail -----------------------------------------------------------------------------
    def _read_tail_note(self, sync_fd: int, file_ino: int) -> Tail | None:
        """The tail note, if it is this boot's note of this file (caller holds the lock).

        Returns None for no note or another file's; raises :class:`_Rebooted` for a note from
        an earlier boot.
        """
        raw = os.pread(sync_fd, _TAIL_SIZE, _TAIL_OFFSET)
        if len(raw) != _TAIL_SIZE:
            return None
        magic, boot, ino, generation, end, seq, size, digest = struct.unpack(_TAIL_FORMAT, raw)
        if magic != _TAIL_MAGIC or ino != file_ino:
            return None
        if boot != _BOOT_ID:
            raise _Rebooted
        return Tail(int(end), int(seq), digest.decode("ascii", "replace"), int(size), generation)

    def _save_tail(self, tail: Tail) -> None:
        note = struct.pack(
            _TAIL_FORMAT,
            _TAIL_MAGIC,
            _BOOT_ID,
            self._ino,
            tail.generation,
            tail.end,
            tail.seq,
            tail.size,
            tail.hash.encode("ascii"),
        )
        os.pwrite(self._sync_fd, note, _TAIL_OFFSET)

    def _load_tail(self, fd: int) -> Tail:
        """Where the chain ends: the note when the file agrees with it, else a rescan."""
        try:
            noted = self._read_tail_note(self._sync_fd, self._ino)
        except _Rebooted:
            return self._rescan_tail(fd)
        if noted is not None:
            end = noted.end
            around = os.pread(fd, 2, end - 1) if end else b"\n" + os.pread(fd, 1, 0)
            if around[:1] == b"\n" and around[1:] in (b"", b"\0"):
                return noted
        return self._rescan_tail(fd)

    def _rescan_tail(self, fd: int) -> Tail:
        """Find the last complete record from the bytes; cut off what follows (under lock).

        Acknowledged records have no zero byte and no gap between them. A power loss (the
        note may be lost with it: ``ledger.sync`` is never flushed) can persist a later page
        of unacknowledged records without an earlier one, so the records end at the first
        zero byte of the recent bytes, and everything after it is discarded (kept in
        ``discarded.jsonl``). Within one boot the page cache has no such holes.
        """
        size = os.fstat(fd).st_size
        content = _last_nonzero(fd, size)
        start = max(0, content - 2 * _RESERVE_BYTES)
        hole = os.pread(fd, content - start, start).find(b"\0")
        limit = start + hole if hole >= 0 else content
        end = _last_newline(fd, limit) + 1
        if end < content:
            self._discard(fd, end, content)
            size = end
        generation = int.from_bytes(os.urandom(8), "little")
        if end == 0:
            tail = Tail(0, 0, GENESIS_HASH, size, generation)
        else:
            start = _last_newline(fd, end - 1) + 1
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
            if len(digest) != 64 or not digest.isascii():
                raise LedgerIntegrityError(
                    f"the last record of {self.path} (byte {start}) has no valid hash; "
                    "refusing to chain onto it. Run `steward audit verify` to find the damage",
                    reason="changed",
                )
            tail = Tail(end, seq, digest, size, generation)
        self._save_tail(tail)
        return tail

    def _discard(self, fd: int, end: int, content: int) -> None:
        partial = os.pread(fd, content - end, end)
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

    # --- read -----------------------------------------------------------------------------
    def _bounds(self) -> tuple[int, int] | None:
        """:func:`content_bounds` of the file, or None when there is no file."""
        try:
            with open(self.path, "rb") as handle:
                return content_bounds(handle.fileno())
        except FileNotFoundError:
            return None

    def last_line(self) -> bytes | None:
        """The last complete line (without newline), read from the end of the records."""
        try:
            with open(self.path, "rb") as handle:
                fd = handle.fileno()
                end, _ = content_bounds(fd)
                if end == 0:
                    return None
                start = _last_newline(fd, end - 1) + 1
                return os.pread(fd, end - 1 - start, start)
        except FileNotFoundError:
            return None

    def flush(self) -> int:
        """Make every complete record on disk durable; returns the offset just past them.

        Sealing reads only up to this offset: it never seals a record whose appender is still
        waiting for its fdatasync (a power loss could still take it back).
        """
        try:
            with open(self.path, "rb") as handle:
                end, _ = content_bounds(handle.fileno())
                os.fdatasync(handle.fileno())
        except FileNotFoundError:
            return 0
        except OSError as err:
            raise StorageError(
                f"fdatasync of the audit ledger {self.path} failed: {err.strerror}"
            ) from err
        return end

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(offset, line without newline) of every complete line from byte ``start``
        (up to byte ``stop``).

        An unterminated last line (an append in progress or a crashed one) is not yielded.
        """
        try:
            handle = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        with handle:
            end, _ = content_bounds(handle.fileno())
            if stop is not None:
                end = min(end, stop)
            handle.seek(start)
            offset = start
            rest = b""
            while offset + len(rest) < end:
                chunk = handle.read(min(_READ_CHUNK, end - offset - len(rest)))
                if not chunk:
                    return
                data = rest + chunk if rest else chunk
                pieces = data.split(b"\n")
                rest = pieces.pop()
                for piece in pieces:
                    yield offset, piece
                    offset += len(piece) + 1

    def partial_tail(self) -> bytes:
        """The bytes after the last complete record (an unterminated last line), or b""."""
        try:
            with open(self.path, "rb") as handle:
                end, content = content_bounds(handle.fileno())
                return os.pread(handle.fileno(), content - end, end)
        except FileNotFoundError:
            return b""

    def records_end(self) -> int:
        """The offset just past the last complete record (0 for no file)."""
        bounds = self._bounds()
        return 0 if bounds is None else bounds[0]


class _Rebooted(Exception):
    """The tail note was written before the last reboot: the page cache it described is gone."""
