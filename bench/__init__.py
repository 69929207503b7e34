"""Benchmarks of the Sim provider against the local emulator (``make bench``; see bench/README.md)."""
