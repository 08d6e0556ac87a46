#!/usr/bin/env bash
# nitro_hw entry point for a fresh Debian/Ubuntu machine (run as root or with sudo available).
#
#   ./nitro.sh demo    set everything up, then run the main job: 230 training steps of mlp-digits on
#                      the training engine (Verilator) against the golden trainer, bit for bit
#   ./nitro.sh test    set everything up, then run the whole test suite (what CI runs)
#   ./nitro.sh setup   only set up: iverilog from apt, .venv with nitro_hw[dev] installed
#
# Setup is idempotent: apt runs only when iverilog is missing, pip only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

setup() {
    local missing=()
    command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
    command -v make >/dev/null 2>&1 || missing+=(make)      # sim/Makefile (cocotb's Makefile flow)
    command -v ccache >/dev/null 2>&1 || missing+=(ccache)  # speeds up Verilator rebuilds
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "nitro.sh: installing ${missing[*]} with apt-get"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "nitro.sh: Python >= 3.11 is required (found $(python3 --version 2>&1))" >&2; exit 1; }
    [ -x .venv/bin/python ] || python3 -m venv .venv
    local stamp=".venv/.nitro-installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "nitro.sh: installing nitro_hw[dev] into .venv"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".[dev]"
        rm -f .venv/.nitro-installed-*
        touch "$stamp"
    fi
}

cmd="${1:-}"
case "$cmd" in
    setup)
        setup ;;
    demo)
        setup
        shift
        # 230 steps = 10 epochs of the 1500 training digits; extra arguments go to nitro-hw cosim
        .venv/bin/nitro-hw cosim --model mlp-digits --dataset digits --steps 230 --sim verilator \
            --out out/demo "$@"
        .venv/bin/nitro-hw report out/demo
        ;;
    test)
        setup
        shift
        .venv/bin/python -m pytest -n 2 --durations=15 "$@"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        [ -z "$cmd" ] || { echo "nitro.sh: unknown command '$cmd'" >&2; exit 2; }
        exit 2 ;;
esac
