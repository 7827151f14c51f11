"""Ctrl-C while a strategy prepares (minutes of fine-tuning, say) stops `evals run` at once, with the message
that says how to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import EXAMPLE_PLUGIN, OFFLINE_ENV

MESSAGE = "interrupted; run the same command again to resume where it stopped"


def test_ctrl_c_while_preparing_stops_at_once(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "slow-setup"\n[[datasets]]\nname = "squad-mini"\nlimit = 3\n'
        '[[strategies]]\nname = "slow_setup"\nparams = {seconds = 600}\n',
        encoding="utf-8",
    )
    environment = {
        **os.environ,
        **OFFLINE_ENV,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE_PLUGIN), os.environ.get("PYTHONPATH", "")]),
        "EVALS_CACHE_DIR": str(tmp_path / "cache"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "evals", "run", str(suite), "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    preparing = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Preparing" in line:
                preparing.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert preparing.wait(timeout=120), f"never reached 'Preparing': {''.join(lines)}"
        time.sleep(0.5)  # well inside prepare's 600 s sleep
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    output = "".join(lines)
    assert code == 130, output
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"
    assert MESSAGE in output and "Traceback" not in output, output
