"""persona build's work folder: kept for --resume once training began, removed when nothing is worth keeping."""

from __future__ import annotations

import pytest

from persona.data.records import DataError
from persona.pack_builder import check_same_dataset, partial_folder, staged, train_stage


def test_a_build_that_fails_before_training_leaves_nothing(tmp_path):
    out = tmp_path / "pack"
    with pytest.raises(DataError), staged(out) as work:
        (work / "data").mkdir()
        raise DataError("no lines", "")
    assert not partial_folder(out).exists() and not out.exists()


def test_a_build_that_fails_after_training_began_keeps_its_work_for_resume(tmp_path):
    out = tmp_path / "pack"
    with pytest.raises(RuntimeError), staged(out) as work:
        (work / "checkpoint").mkdir()
        raise RuntimeError("killed")
    assert partial_folder(out).is_dir() and not out.exists()
    with pytest.raises(DataError) as err, staged(out):
        pass
    assert "unfinished build of pack" in err.value.message and "--resume" in err.value.hint
    with staged(out, resume=True) as work:
        assert (work / "checkpoint").is_dir()  # the same folder, with its checkpoint
        (work / "persona.toml").write_text("")
    assert (out / "persona.toml").is_file() and not partial_folder(out).exists()


def test_resume_without_an_unfinished_build_is_an_error(tmp_path):
    with pytest.raises(DataError) as err, staged(tmp_path / "pack", resume=True):
        pass
    assert "no unfinished build" in err.value.message and "without --resume" in err.value.hint


def test_a_resumed_build_whose_dataset_changed_is_refused(tmp_path):
    check_same_dataset(tmp_path, None, "abc")  # nothing recorded: nothing to compare
    check_same_dataset(tmp_path, "abc", "abc")
    with pytest.raises(DataError) as err:
        check_same_dataset(tmp_path, "abc", "def")
    assert "changed since the unfinished build" in err.value.message


def test_finished_training_is_not_redone(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "training_report.json").write_text('{"steps": 117, "best_val_loss": 2.5}')
    said = []
    report = train_stage(tmp_path, config=None, progress=said.append)
    assert report == {"steps": 117, "best_val_loss": 2.5} and "going on to the eval" in said[0]
