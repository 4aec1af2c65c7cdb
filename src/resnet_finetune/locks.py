"""One portable file lock: an exclusive lock on a file that a process holds until it
releases it or ends (killed included: the operating system drops it).

Whether a run, a training or a database set-up is in progress is told by such a lock,
never by a process id: a lock is seen across containers sharing a folder (other PID
namespaces) and cannot be mistaken for a reused pid. The ``filelock`` package does the
locking (``flock`` on POSIX, ``msvcrt.locking`` on Windows); this is the one interface
the project uses, with the options that keep those meanings.
"""

from __future__ import annotations

from pathlib import Path


class FileLock:
    """An exclusive lock on ``path`` (created if missing; left in place when released,
    so that two processes always lock the same file). A second ``FileLock`` on the same
    path in the same process conflicts with the first, so "held" means held by anyone."""

    def __init__(self, path: str | Path):
        # Imported here: the training library (and its benchmark, which runs with keras,
        # a backend and numpy only) imports this module without ever taking a lock.
        import filelock

        self.path = Path(path)
        self._lock = filelock.FileLock(
            self.path,
            thread_local=False,
            # A soft lock (a file that exists) would outlive a killed holder: liveness is
            # told by a lock the operating system drops, or not at all.
            fallback_to_soft=False,
            preserve_lock_file=True,
        )

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.is_locked

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock, waiting for it when ``blocking``; ``False`` when another
        holder has it and ``blocking`` is false."""
        from filelock import Timeout

        try:
            self._lock.acquire(blocking=blocking)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
