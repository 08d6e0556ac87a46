"""The committed rtl/ must equal what `nitro-hw verilog --out rtl` generates now."""

import json
from pathlib import Path

from nitro_hw.hw.catalog import catalog
from nitro_hw.rtl_export import MANIFEST_NAME, export

RTL = Path(__file__).resolve().parents[1] / "rtl"
REGENERATE = "regenerate with: nitro-hw verilog --out rtl"


def test_committed_rtl_is_fresh(tmp_path):
    fresh = export(tmp_path)
    committed_manifest = RTL / MANIFEST_NAME
    assert committed_manifest.is_file(), f"rtl/{MANIFEST_NAME} missing; {REGENERATE}"
    committed = json.loads(committed_manifest.read_text())
    assert sorted(committed["designs"]) == sorted(catalog()), f"rtl/ design list is stale; {REGENERATE}"
    assert committed == fresh, f"rtl/manifest.json is stale; {REGENERATE}"
    for name, entry in fresh["designs"].items():
        new = (tmp_path / entry["file"]).read_text()
        old_path = RTL / entry["file"]
        assert old_path.is_file(), f"rtl/{entry['file']} missing; {REGENERATE}"
        assert old_path.read_text() == new, f"rtl/{entry['file']} ({name}) is stale; {REGENERATE}"


def test_export_is_deterministic(tmp_path):
    a = export(tmp_path / "a", ["trunc_shift"])
    b = export(tmp_path / "b", ["trunc_shift"])
    assert a == b
    assert (tmp_path / "a" / "trunc_shift.v").read_bytes() == (tmp_path / "b" / "trunc_shift.v").read_bytes()
