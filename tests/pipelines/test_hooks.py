"""The hooks' helpers that need no pipeline run."""

import subprocess

from resnet_finetune.hooks import anchored_sqlite_uri, git_commit


def test_git_commit_and_uncommitted_changes_of_a_checkout(tmp_path):
    assert git_commit(tmp_path) == ("unknown", None)
    tracked = tmp_path / "tracked.txt"
    tracked.write_text("one")

    def git(*args):
        command = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", "tracked.txt")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert len(head) == 40
    (tmp_path / "untracked.txt").write_text("not part of the commit's code")
    assert git_commit(tmp_path) == (head, False)
    tracked.write_text("two")
    assert git_commit(tmp_path) == (head, True)


def test_relative_sqlite_uri_is_anchored_at_the_project_root(tmp_path):
    assert anchored_sqlite_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert anchored_sqlite_uri("sqlite:////srv/mlflow.db", tmp_path) == "sqlite:////srv/mlflow.db"
    assert anchored_sqlite_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    assert anchored_sqlite_uri(None, tmp_path) is None
