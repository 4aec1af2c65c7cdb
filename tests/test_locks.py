"""The one portable file lock: held across processes, dropped when its holder dies, and
importing the code that uses it needs no POSIX-only module."""

import subprocess
import sys

from resnet_finetune.locks import FileLock
from tests.pipelines.conftest import ROOT

HOLD = (
    "import sys; from resnet_finetune.locks import FileLock\n"
    "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); sys.stdin.read()"
)


def hold_in_another_process(path) -> subprocess.Popen:
    """A process that holds the lock on ``path`` until its stdin is closed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_held_by_another_process_is_refused_until_it_is_released(tmp_path):
    path = tmp_path / "x.lock"
    holder = hold_in_another_process(path)
    try:
        assert not FileLock(path).acquire(blocking=False)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    lock = FileLock(path)
    assert lock.acquire(blocking=False) and lock.held
    assert not FileLock(path).acquire(blocking=False)  # a second handle in this process too
    lock.release()
    assert not lock.held and FileLock(path).acquire(blocking=False)


def test_a_killed_holder_leaves_the_lock_free(tmp_path):
    path = tmp_path / "x.lock"
    holder = hold_in_another_process(path)
    holder.kill()
    holder.wait(timeout=30)
    assert FileLock(path).acquire(blocking=False)


def test_the_checkpoints_import_without_fcntl():
    # As on Windows: a POSIX-only module at module level would fail here.
    code = "import sys; sys.modules['fcntl'] = None; import resnet_finetune.training.checkpoints"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
