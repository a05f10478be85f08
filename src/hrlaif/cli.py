"""``hrlaif`` — one subcommand per stage.

The table below is all ``hrlaif --help`` needs, so it imports no stage module and no torch.
``hrlaif STAGE ...`` imports that stage's module, builds its flags from the stage's config
dataclass, resolves the config (defaults ← ``--config`` YAML ← flags) and calls the stage's
``cli(cfg)`` function. Every ``HrlaifError`` becomes a one-line message and a non-zero exit
(2 for bad input or config).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable

# name: (module, config class, one-line help). Each module exposes ``cli(cfg) -> int | None``.
COMMANDS: dict[str, tuple[str, str | None, str]] = {
    "generate": ("hrlaif.generate", "GenerateConfig", "sample K responses per prompt (ResponseSet JSONL)"),
    "label": ("hrlaif.label", "LabelConfig", "rank responses: basic (judge only) or hybrid (verify, then judge)"),
    "verify": ("hrlaif.verify.cli", "VerifyConfig", "check math / multiple-choice / code answers against references"),
    "redteam": ("hrlaif.redteam", "RedTeamConfig", "AI red teaming: attack prompts, harm checks, harmless rewrites"),
    "train-rm": ("hrlaif.rm.train", "RMConfig", "train a clipped reward model on K-response partial orders"),
    "ppo": ("hrlaif.ppo.train", "PPOConfig", "PPO against the reward model with a KL penalty to the SFT policy"),
    "eval": ("hrlaif.evaluate", "EvalConfig", "accuracy, toxicity, win ratio and satisfaction of a policy"),
    "run": ("hrlaif.pipeline", "RunConfig", "the whole pipeline: SFT → label basic & hybrid → RM → PPO → eval"),
    "calibrate-harm": ("hrlaif.judges.calibrate", "CalibrateConfig",
                       "choose the local judge's harm threshold on labelled ToxiGen sentences"),
    "review": ("hrlaif.review.server", "ReviewConfig", "local web page for human spot checks and satisfaction"),
    "env": ("hrlaif.envinfo", None, "print versions, device and threads (for bug reports)"),
}
POSITIONAL_CONFIG = {"run"}  # `hrlaif run CONFIG.yaml`


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hrlaif",
        description="Hybrid RLAIF: verified AI labels, AI red teaming, K-wise reward models and PPO.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'hrlaif STAGE --help' for a stage's options. Every option can also be set in a YAML file "
               "passed with --config.",
    )
    from hrlaif import __version__

    p.add_argument("--version", action="version", version=f"hrlaif {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", metavar="STAGE", title="stages")
    for name, (_, _, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def _stage_parser(name: str) -> tuple[argparse.ArgumentParser, type | None, Callable]:
    import importlib

    from hrlaif.config import add_config_arguments

    module_name, cfg_name, help_ = COMMANDS[name]
    mod = importlib.import_module(module_name)
    p = argparse.ArgumentParser(prog=f"hrlaif {name}", description=(mod.__doc__ or help_).strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    cfg_cls = getattr(mod, cfg_name) if cfg_name else None
    if name in POSITIONAL_CONFIG:
        p.add_argument("config_file", metavar="CONFIG", nargs="?", help="pipeline YAML (e.g. configs/demo.yaml)")
    if cfg_cls is not None:
        add_config_arguments(p, cfg_cls)
    return p, cfg_cls, mod.cli


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="[%X]", handlers=[RichHandler(show_path=False, rich_tracebacks=False,
                                                               console=_stderr_console())])
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "accelerate", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stderr_console():  # noqa: ANN202
    from rich.console import Console

    return Console(file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd_idx = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if cmd_idx is None or argv[cmd_idx] not in COMMANDS:
        top = _top_parser()
        if cmd_idx is None:
            args = top.parse_args(argv)
            top.print_help()
            return 0 if not argv or args else 2
        top.parse_args(argv)  # reports the unknown stage and exits 2
        return 2
    globals_, name, rest = argv[:cmd_idx], argv[cmd_idx], argv[cmd_idx + 1:]
    try:
        parser, cfg_cls, run = _stage_parser(name)
        args = parser.parse_args(globals_ + rest)
        if args.quiet:
            os.environ["HRLAIF_QUIET"] = "1"
        _setup_logging(args.verbose)
        _quiet_transformers()
        if cfg_cls is None:
            return int(run(args) or 0)
        from hrlaif.config import resolve_config

        yaml_path = getattr(args, "config", None) or getattr(args, "config_file", None)
        cfg = resolve_config(cfg_cls, args, yaml_path=yaml_path)
        return int(run(cfg) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # map our errors to a message and an exit code; let bugs show a traceback
        from hrlaif.errors import HrlaifError

        if isinstance(e, HrlaifError):
            print(f"hrlaif {name}: error: {e}", file=sys.stderr)
            return e.exit_code
        raise


def _quiet_transformers() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


if __name__ == "__main__":
    sys.exit(main())
