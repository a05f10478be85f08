"""Content-addressed stage cache for ``hrlaif run``.

A stage's key is the SHA-256 of its name, its resolved config (without output paths) and the
content of its input files and model folders. ``<out>/.stages/<name>.json`` records the key when
the stage starts and again, with ``done: true`` and its wall time, when it ends:

* same key, done          → the stage is skipped (its outputs are reused);
* same key, not done      → the stage was interrupted: it reruns and its resumable writers
                            pick up where it stopped;
* different key           → stale outputs are removed and the stage runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hrlaif.data import atomic_write_text


def hash_path(p: Path, h: "hashlib._Hash") -> None:
    """Feed a file's bytes, or a folder's files (sorted, with relative names), into ``h``."""
    if p.is_file():
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    elif p.is_dir():
        for sub in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
            h.update(str(sub.relative_to(p)).encode())
            hash_path(sub, h)
    else:
        h.update(f"<missing {p}>".encode())


def stage_key(name: str, config: Any, inputs: list[str | Path]) -> str:
    h = hashlib.sha256()
    h.update(name.encode())
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    for p in inputs:
        hash_path(Path(p), h)
    return h.hexdigest()[:16]


@dataclass
class StageRecord:
    name: str
    key: str
    done: bool
    seconds: float
    outputs: list[str]
    cached: bool = False


class StageCache:
    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir) / ".stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records: list[StageRecord] = []

    def _marker(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def run(self, name: str, config: Any, inputs: list[str | Path], outputs: list[str | Path],
            fn: Callable[[], Any], *, log: Callable[[str], None] = print) -> StageRecord:
        key = stage_key(name, config, inputs)
        marker = self._marker(name)
        prev = json.loads(marker.read_text()) if marker.exists() else None
        outs = [Path(o) for o in outputs]
        if prev and prev.get("key") == key and prev.get("done") and all(o.exists() for o in outs):
            rec = StageRecord(name, key, True, float(prev.get("seconds", 0.0)), [str(o) for o in outs], cached=True)
            log(f"[stage] {name}: cached ({key}), took {rec.seconds:.1f}s when it ran")
            self.records.append(rec)
            return rec
        if prev and prev.get("key") != key:  # config or inputs changed: outputs are stale
            for o in outs:
                if o.is_dir():
                    shutil.rmtree(o, ignore_errors=True)
                else:
                    o.unlink(missing_ok=True)
                    o.with_name(o.name + ".partial").unlink(missing_ok=True)
        elif prev and not prev.get("done"):
            log(f"[stage] {name}: resuming an interrupted run ({key})")
        atomic_write_text(marker, json.dumps({"key": key, "done": False, "started": time.time()}))
        log(f"[stage] {name}: running ({key})")
        t0 = time.perf_counter()
        fn()
        secs = time.perf_counter() - t0
        atomic_write_text(marker, json.dumps({"key": key, "done": True, "seconds": secs,
                                              "outputs": [str(o) for o in outs]}))
        rec = StageRecord(name, key, True, secs, [str(o) for o in outs])
        log(f"[stage] {name}: done in {secs:.1f}s")
        self.records.append(rec)
        return rec
