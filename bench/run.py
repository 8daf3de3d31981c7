"""Run every benchmark and print its table: `make bench` or `.venv/bin/python bench/run.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autosync
import list_100k
import retrieval

import exports
import offline


def main() -> int:
    args = sys.argv[1:]
    return max(
        retrieval.main(args),
        list_100k.main(args),
        offline.main(args),
        exports.main(args),
        autosync.main(args),
    )


if __name__ == "__main__":
    raise SystemExit(main())
