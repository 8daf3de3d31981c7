"""Run every benchmark and print its table: `make bench` or `.venv/bin/python bench/run.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import retrieval


def main() -> int:
    args = sys.argv[1:]
    return retrieval.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
