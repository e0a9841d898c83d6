"""A save killed at any instant leaves the old model or the new one, and nothing that piles up.

The test forks one saving child per crash point: the child counts its file-system calls (open,
write, fsync, close, rename, unlink, mkdir, scandir, lock) and dies with `os._exit` — no cleanup, no
`finally`, like a kill -9 — just before call number N. Every N from the first call to past the last is
tried, for a save over an existing model, a save over the same model, and a first save into a new folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedrec import BiasBaseline, Interactions, ModelFormatError, load_model
from embedrec.files import TMP_PREFIX

CALLS = ("open", "write", "fsync", "close", "replace", "rename", "unlink", "mkdir", "rmdir", "scandir")
CASES = ("over-old", "same-model", "first-save")


def save_killed_at(model: BiasBaseline, target: Path, crash_at: int) -> int:
    """Save `model` to `target` in a forked child that dies just before its file-system call number
    `crash_at`; returns the child's exit code (17: killed, 0: the save ran to the end first)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        count = [0]

        def crashing(fn: Callable) -> Callable:
            def call(*args: Any, **kwargs: Any) -> Any:
                count[0] += 1
                if count[0] == crash_at:
                    os._exit(17)  # a kill: no finally blocks, no cleanup
                return fn(*args, **kwargs)

            return call

        try:
            for name in CALLS:
                setattr(os, name, crashing(getattr(os, name)))
            fcntl.flock = crashing(fcntl.flock)
            model.save(target)
        finally:
            os._exit(0 if count[0] < crash_at else 3)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def toy(seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    users, items = np.repeat(np.arange(30), 5), np.tile(np.arange(5), 30) + rng.integers(0, 3, 150) * 5
    return Interactions.from_arrays(users, items, rng.integers(1, 6, 150).astype(np.float32))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture()
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder in memory where there is one (/dev/shm: fsync costs nothing there, and the order of the
    operations is what is tested), else under tmp_path."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path / "scratch"
        return
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="embedrec-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_save_killed_at_every_file_operation_leaves_the_old_or_the_new_model(
    tmp_path: Path, scratch: Path
) -> None:
    old = BiasBaseline(reg_user=1.0).fit(toy(0)).save(tmp_path / "old")
    new = BiasBaseline(reg_user=5.0).fit(toy(1)).save(tmp_path / "new")
    old_bias, new_bias = load_model(old).user_bias_, load_model(new).user_bias_
    assert not np.array_equal(old_bias, new_bias)
    new_model = load_model(new)
    new_model.save(tmp_path / "warm")  # the first save imports what saving needs, before any fork
    work, runs = scratch, []
    for case in CASES:
        for crash_at in range(1, 200):
            target = work / case / f"{crash_at:03d}" / "model"
            if case == "first-save":
                target.parent.mkdir(parents=True)
            else:
                shutil.copytree(old if case == "over-old" else new, target)
            runs.append((case, target, save_killed_at(new_model, target, crash_at)))
            if runs[-1][2] == 0:  # the save ran to the end: every crash point has been tried
                break
    for case in CASES:
        codes = [code for c, _, code in runs if c == case]
        assert codes[-1] == 0 and set(codes[:-1]) == {17}, (case, codes)
        assert len(codes) > 10, f"{case}: only {len(codes)} file operations were interrupted"
    for case, target, code in runs:
        what = f"{case}, killed before file operation {target.parent.name}"
        try:
            loaded = load_model(target).user_bias_
        except ModelFormatError as exc:  # only a first save may leave no model: there was none before
            assert case == "first-save" and "not a saved model" in str(exc), f"{what}: {exc}"
        else:
            assert any(np.array_equal(loaded, b) for b in (old_bias, new_bias)), what
            if code == 0:
                np.testing.assert_array_equal(loaded, new_bias)
            # loading cleaned what the killed save left: model.json and the one weights file it names
            weights = json.loads((target / "model.json").read_text())["weights_file"]
            assert listing(target) == sorted(["model.json", weights]), (what, listing(target))
        BiasBaseline().fit(toy(2)).save(target)  # and the next save leaves exactly one model
        weights = json.loads((target / "model.json").read_text())["weights_file"]
        assert listing(target) == sorted(["model.json", weights]), (what, listing(target))
        assert listing(target.parent) == ["model"], what


def test_leftovers_of_killed_saves_are_removed_by_the_next_load_but_not_during_a_save(tmp_path: Path) -> None:
    target = BiasBaseline().fit(toy(0)).save(tmp_path / "m")
    (target / f"{TMP_PREFIX}model.json.123.abcd").write_bytes(b"{")
    (target / "weights-0123456789abcdef.safetensors").write_bytes(b"half")
    (target / "notes.txt").write_text("mine")  # not ours: never touched
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running save holds it
        load_model(target)
        assert len(listing(target)) == 5  # a save may be writing those files: left alone
    finally:
        os.close(fd)
    load_model(target)
    weights = json.loads((target / "model.json").read_text())["weights_file"]
    assert listing(target) == sorted(["model.json", "notes.txt", weights])


def test_a_version_2_folder_loads_and_the_next_save_replaces_its_layout(tmp_path: Path) -> None:
    model = BiasBaseline().fit(toy(0))
    target = model.save(tmp_path / "m")
    meta = json.loads((target / "model.json").read_text())
    (target / meta.pop("weights_file")).rename(target / "model.safetensors")
    meta["format_version"] = 2
    (target / "model.json").write_text(json.dumps(meta))
    np.testing.assert_array_equal(load_model(target).item_bias_, model.item_bias_)
    model.save(target)
    assert "model.safetensors" not in listing(target) and len(listing(target)) == 2


@pytest.mark.parametrize("bad", ["/proc/embedrec-model", "/dev/null/model"])
def test_saving_where_nothing_can_be_written_is_one_embedrec_error(bad: str) -> None:
    from embedrec import EmbedrecError

    with pytest.raises(EmbedrecError, match="cannot write|not a folder|exists") as info:
        BiasBaseline().fit(toy(0)).save(bad)
    assert "tmp" not in str(info.value)


def interrupt_at(monkeypatch: pytest.MonkeyPatch, n: int) -> list[int]:
    """Make file-system call number `n` raise KeyboardInterrupt, as Ctrl-C arriving then would."""
    count = [0]

    def interrupting(fn: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == n:
                raise KeyboardInterrupt
            return fn(*args, **kwargs)

        return call

    for name in CALLS:
        monkeypatch.setattr(os, name, interrupting(getattr(os, name)))
    return count


def test_ctrl_c_at_any_file_operation_of_a_save_leaves_the_old_model_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = BiasBaseline(reg_user=1.0).fit(toy(0)), BiasBaseline(reg_user=5.0).fit(toy(1))
    for n in range(1, 100):
        target = old.save(tmp_path / str(n) / "model")
        before = listing(target)
        with monkeypatch.context() as patch:
            count = interrupt_at(patch, n)
            try:
                new.save(target)
            except KeyboardInterrupt:
                pass
            else:
                assert count[0] < n
                break
        loaded = load_model(target).user_bias_
        assert np.array_equal(loaded, old.user_bias_) or np.array_equal(loaded, new.user_bias_), n
        assert listing(target) == before or np.array_equal(loaded, new.user_bias_), (n, listing(target))
    assert n > 10


def test_ctrl_c_during_an_export_leaves_no_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedrec import EmbeddingTable, export

    table = EmbeddingTable(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    for n in range(1, 100):
        out = tmp_path / str(n)
        with monkeypatch.context() as patch:
            count = interrupt_at(patch, n)
            try:
                export(table, "projector", out)
            except KeyboardInterrupt:
                pass
            else:
                assert count[0] < n
                break
        # all three files or none (the interrupt came after the renames began), never a temporary
        names = listing(out) if out.exists() else []
        assert not [x for x in names if x.startswith(TMP_PREFIX)], (n, names)
    assert n > 6


def test_the_leftovers_of_version_2_saves_beside_a_model_go_with_the_next_save(tmp_path: Path) -> None:
    model = BiasBaseline().fit(toy(0))
    for name in (".m.k3j_x9aa", ".m.old-4242"):  # what version 2's two renames left when killed
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"old")
    (tmp_path / ".m.notes-of-mine").mkdir()  # not a name version 2 made: kept
    (tmp_path / ".m.zzzzzzzz").mkdir()
    (tmp_path / ".m.zzzzzzzz" / "mine.txt").write_text("kept: not only model files")
    model.save(tmp_path / "m")
    assert listing(tmp_path) == [".m.notes-of-mine", ".m.zzzzzzzz", "m"]


def test_loads_while_another_thread_saves_always_see_a_whole_model(scratch: Path) -> None:
    """A reader never takes a save's files away, and retries when a commit removed the weights it was
    about to read: 500 loads during a stream of saves of two alternating models all succeed."""
    import threading

    models = [BiasBaseline(reg_user=1.0).fit(toy(0)), BiasBaseline(reg_user=5.0).fit(toy(1))]
    target = models[0].save(scratch / "m")
    stop, saves = threading.Event(), [0]

    def keep_saving() -> None:
        while not stop.is_set():
            models[saves[0] % 2].save(target)
            saves[0] += 1

    saver = threading.Thread(target=keep_saving)
    saver.start()
    try:
        for _ in range(500):
            loaded = load_model(target).user_bias_
            assert any(np.array_equal(loaded, m.user_bias_) for m in models)
    finally:
        stop.set()
        saver.join()
    assert saves[0] > 10
    weights = json.loads((target / "model.json").read_text())["weights_file"]
    assert listing(target) == sorted(["model.json", weights])
