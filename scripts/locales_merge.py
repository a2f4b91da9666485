"""Merge translated messages into the catalogues: ``python scripts/locales_merge.py PART.json``.

PART.json maps each key to its text per language ({"key": {"en": "...", "ja": "..."}}). Every
``locales/<code>.json`` gets those keys (added or replaced), keys sorted, so several people
(or helpers) can add their parts one after another without losing each other's. A lock file
makes two merges at once wait for each other. ``--remove KEY...`` drops keys everywhere.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.i18n.languages import LANGUAGES  # noqa: E402

LOCALES = ROOT / "locales"


def merge(part: dict[str, dict[str, str]], remove: list[str]) -> None:
    unknown = {code for texts in part.values() for code in texts} - set(LANGUAGES)
    if unknown:
        raise SystemExit(f"unknown language codes: {sorted(unknown)}")
    with (LOCALES / ".merge.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for code in LANGUAGES:
            path = LOCALES / f"{code}.json"
            data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            for key, texts in part.items():
                if code in texts:
                    data[key] = texts[code]
            for key in remove:
                data.pop(key, None)
            path.write_text(json.dumps(dict(sorted(data.items())), ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", type=Path)
    parser.add_argument("--remove", nargs="*", default=[])
    args = parser.parse_args()
    for part in args.parts:
        merge(json.loads(part.read_text(encoding="utf-8")), [])
    if args.remove:
        merge({}, args.remove)


if __name__ == "__main__":
    main()
