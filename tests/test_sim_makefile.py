"""`make -C sim` (cocotb's classic Makefile flow on Icarus) runs a unit testbench."""

import subprocess
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"


def test_makefile_flow_runs_trunc_shift_on_icarus():
    res = subprocess.run(["make", "-C", str(SIM), "SIM=icarus", "DESIGN=trunc_shift"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "FAIL=0" in res.stdout and "PASS=2" in res.stdout
