"""The one progress line of ours: weighted stages, ETA, and transformers' bars relayed, never drawn."""

from __future__ import annotations

from persona.models import convert
from persona.progress import Live, Meter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_weights_stages_and_estimates_the_time_left():
    clock, seen = Clock(), []
    meter = Meter("converting x", {"a": 1, "b": 3}, seen.append, clock=clock, tick_s=60)
    with meter:
        assert seen[0].first and "estimating" in seen[0]
        meter.update("a", 1, 1)
        assert meter.fraction() == 0.25
        meter.update("b", 1, 3)             # a third of the bigger stage
        assert abs(meter.fraction() - 0.5) < 1e-9
        clock.now += 10                     # half done after 10 s: about 10 s left
        assert "50%" in meter.line() and "about 10 s left" in meter.line()
        meter.update("unknown stage", 5, 5)  # ignored
        assert abs(meter.fraction() - 0.5) < 1e-9
    assert seen[-1].final and seen[-1] == "converting x: done in 10 s"
    assert all(isinstance(m, Live) for m in seen)


def test_a_stage_without_a_bar_moves_with_the_clock_but_never_completes_itself():
    clock = Clock()
    meter = Meter("x", {"load": 2, "bar": 2}, lambda m: None, expected_s=20, clock=clock, tick_s=60)
    meter.update("load")                   # no bar: 10 s expected for this stage
    clock.now += 5
    assert abs(meter.fraction() - 0.25) < 1e-9
    clock.now += 60                         # slower than expected: held at 90% of the stage
    assert abs(meter.fraction() - 0.45) < 1e-9
    meter.update("bar", 0, 4)               # the next stage begins: the first counts as done
    assert meter.fraction() == 0.5


def test_meter_reports_failure_on_the_final_line():
    seen: list[str] = []
    try:
        with Meter("converting x", {"a": 1}, seen.append, tick_s=60):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert seen[-1] == "converting x: failed" and seen[-1].final


def test_transformers_bars_feed_the_meter_and_draw_nothing(capsys):
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    original = gguf_utils.tqdm
    meter = Meter("t", convert.STAGES, lambda m: None, tick_s=60)
    with convert.bars_into(meter):
        for _ in hf_logging.tqdm(range(10), desc="Loading weights"):
            pass
        assert meter.current == "Loading weights" and meter.within == 1.0
        for _ in gguf_utils.tqdm(range(4), desc="Converting and de-quantizing GGUF tensors..."):
            pass
        assert meter.current == "Converting and de-quantizing GGUF tensors"
    assert gguf_utils.tqdm is original  # put back
    assert hf_logging.set_tqdm_hook(None) is None  # no hook left behind
    err = capsys.readouterr().err
    assert "Loading weights" not in err and "de-quantizing" not in err


class Stream:
    def __init__(self, tty: bool) -> None:
        self.text, self.tty = "", tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


def test_cli_rewrites_a_live_line_on_a_terminal_and_logs_only_its_ends(monkeypatch):
    from persona.cli import common
    from persona.progress import live

    lines = [live("a 0%", first=True), live("a 50%"), live("a done", final=True)]
    tty = Stream(tty=True)
    monkeypatch.setattr("sys.stderr", tty)
    for msg in lines:
        common.progress(msg)
    assert tty.text == "\r\x1b[2Ka 0%\r\x1b[2Ka 50%\r\x1b[2Ka done\n"
    log = Stream(tty=False)
    monkeypatch.setattr("sys.stderr", log)
    for msg in [*lines, "plain"]:
        common.progress(msg)
    assert log.text == "a 0%\na done\nplain\n"
