"""Verification helpers: cocotb runner wrapper and testbench utilities."""
