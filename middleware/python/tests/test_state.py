"""ExperimentState: stat-keyed caching, atomic replacement, bad files, defaults."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from conftest import ACTIVE_ONE, ACTIVE_TWO, INACTIVE_FILE, replace_atomically, write_annotations
from faultline_middleware import DEFAULT_PATH, ENV_PATH, INACTIVE, ExperimentState, resolve_path


def test_no_reparse_while_unchanged(annotations_path: Path) -> None:
    write_annotations(annotations_path, ACTIVE_ONE)
    state = ExperimentState(annotations_path)
    first = state.current()
    assert first.active and first.name == "payment-latency"
    for _ in range(1000):
        assert state.current() is first
    assert state.parse_count == 1


def test_reparse_after_atomic_replace(annotations_path: Path) -> None:
    write_annotations(annotations_path, ACTIVE_ONE)
    state = ExperimentState(annotations_path)
    assert state.current().names == ("payment-latency",)
    write_annotations(annotations_path, ACTIVE_TWO)
    assert state.current().names == ("payment-latency", "db-loss")
    assert state.parse_count == 2
    write_annotations(annotations_path, INACTIVE_FILE)
    assert state.current() is INACTIVE
    assert state.current() is INACTIVE
    assert state.parse_count == 3


def test_missing_file_is_inactive_and_not_parsed(annotations_path: Path) -> None:
    state = ExperimentState(annotations_path)
    assert state.current() is INACTIVE
    assert state.parse_count == 0
    write_annotations(annotations_path, ACTIVE_ONE)
    assert state.current().active
    annotations_path.unlink()
    assert state.current() is INACTIVE
    assert state.parse_count == 1


def test_in_place_rewrite_is_noticed(annotations_path: Path) -> None:
    # Not how the agent writes, but a size change must still invalidate.
    write_annotations(annotations_path, INACTIVE_FILE)
    state = ExperimentState(annotations_path)
    assert state.current() is INACTIVE
    with open(annotations_path, "a") as handle:
        handle.write('chaos.experiment/name="x"\n')
    os.utime(annotations_path, ns=(1, 1))
    assert state.current() is INACTIVE
    assert state.parse_count == 2


def test_malformed_file_is_inactive_logged_once(
    annotations_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="faultline_middleware")
    replace_atomically(annotations_path, 'chaos.experiment/active="true"\nchaos.experiment/name="pay')
    state = ExperimentState(annotations_path)
    for _ in range(50):
        assert state.current() is INACTIVE
    assert state.parse_count == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "faultline_middleware"]
    assert len(messages) == 1 and "malformed" in messages[0]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    # The agent's next (complete) write is picked up.
    write_annotations(annotations_path, ACTIVE_ONE)
    assert state.current().active


def test_unreadable_file_is_inactive(annotations_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="faultline_middleware")
    annotations_path.mkdir()  # open() fails with IsADirectoryError (root ignores chmod)
    state = ExperimentState(annotations_path)
    assert state.current() is INACTIVE
    assert state.current() is INACTIVE
    assert len([r for r in caplog.records if "cannot read" in r.getMessage()]) == 1


def test_binary_garbage_is_inactive(annotations_path: Path) -> None:
    replace_atomically(annotations_path, os.urandom(256) + b"\n=\n")
    assert ExperimentState(annotations_path).current() is INACTIVE


def test_downward_api_symlink_swap(tmp_path: Path) -> None:
    """The kubelet layout: annotations -> ..data/annotations, ..data -> ..<timestamp> swapped by rename."""
    first, second = tmp_path / "..2026_11_22_05_00", tmp_path / "..2026_11_22_05_05"
    first.mkdir()
    second.mkdir()
    write_annotations(first / "annotations", ACTIVE_ONE)
    write_annotations(second / "annotations", INACTIVE_FILE)
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "annotations").symlink_to("..data/annotations")
    state = ExperimentState(tmp_path / "annotations")
    assert state.current().active
    tmp_link = tmp_path / "..data_tmp"
    tmp_link.symlink_to(second.name)
    os.replace(tmp_link, tmp_path / "..data")
    assert state.current() is INACTIVE


def test_min_check_interval(annotations_path: Path) -> None:
    write_annotations(annotations_path, ACTIVE_ONE)
    state = ExperimentState(annotations_path, min_check_interval=3600)
    assert state.current().active
    write_annotations(annotations_path, INACTIVE_FILE)
    assert state.current().active  # not re-checked within the interval
    assert state.refresh() is INACTIVE
    write_annotations(annotations_path, ACTIVE_TWO)
    assert state.current() is INACTIVE
    assert state.refresh().names == ("payment-latency", "db-loss")


def test_path_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_PATH, raising=False)
    assert resolve_path() == DEFAULT_PATH == "/var/run/faultline/annotations"
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "env"))
    assert ExperimentState().path == str(tmp_path / "env")
    assert ExperimentState(tmp_path / "explicit").path == str(tmp_path / "explicit")
    monkeypatch.setenv(ENV_PATH, "")
    assert resolve_path() == DEFAULT_PATH


def test_concurrent_readers_during_flips(annotations_path: Path) -> None:
    state = ExperimentState(annotations_path)
    errors: list = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                experiment = state.current()
                assert experiment is INACTIVE or experiment.name in ("payment-latency", "payment-latency,db-loss")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(200):
        write_annotations(annotations_path, (ACTIVE_ONE, ACTIVE_TWO, INACTIVE_FILE)[i % 3])
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    write_annotations(annotations_path, ACTIVE_TWO)
    assert state.current().names == ("payment-latency", "db-loss")
