"""One portable file lock: an exclusive lock on a file that a process holds until it
releases it or ends (killed included: the operating system drops it).

Whether a run, a training or a database set-up is in progress is told by such a lock,
never by a process id: a lock is seen across containers sharing a folder (other PID
namespaces) and cannot be mistaken for a reused pid. POSIX ``flock`` and Windows'
``msvcrt.locking`` behind one interface; a second handle in the same process conflicts
with the first too, so "held" means held by anyone.
"""

from __future__ import annotations

import os
from pathlib import Path


# The platform's module is imported where it is used: importing this module (and the
# checkpoints that use it) needs neither ``fcntl`` nor ``msvcrt``.
def _try_lock(handle: int, blocking: bool) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        while True:
            try:
                msvcrt.locking(handle, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not blocking:
                    return False
                # LK_LOCK gives up after ten one-second attempts: keep waiting.
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _unlock(handle: int) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle, fcntl.LOCK_UN)


class FileLock:
    """An exclusive lock on ``path`` (created if missing; left in place when released,
    so that two processes always lock the same file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._handle is not None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock, waiting for it when ``blocking``; ``False`` when another
        holder has it and ``blocking`` is false."""
        if self._handle is not None:
            return True
        handle = os.open(self.path, os.O_CREAT | os.O_RDWR)
        if not _try_lock(handle, blocking):
            os.close(handle)
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            _unlock(self._handle)
            os.close(self._handle)
            self._handle = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
