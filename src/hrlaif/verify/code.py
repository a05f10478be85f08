"""Code verifier: run HumanEval-style tests on a completion inside a sandbox.

``verify_code(prompt, completion, tests, entry_point)`` builds the program
``prompt + completion + tests + check(entry_point)`` and runs it with ``run_in_sandbox``: its own
process in a fresh temp dir, rlimits on CPU time, address space, processes, file size and open
files, a wall-clock timeout, a scrubbed environment and ``python -I``. Where the OS allows (Linux
namespaces; as root or with unprivileged user namespaces) it also has no network, a read-only view
of the whole filesystem except its temp dir, its own PID namespace and no privileges; see
``sandbox_isolation()`` for what is active on this machine (measured once per process by a probe
run). Without that isolation ``run_in_sandbox`` raises ``SandboxError`` unless the caller opts in
with ``allow_unisolated=True``.

The verdict is decided by the exit status alone, plus a random end-marker the harness prints after
``check`` returns, so a completion that exits early with status 0 or prints "all tests passed"
does not pass.
"""

from __future__ import annotations

import itertools
import json
import logging
import marshal
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

from hrlaif.errors import SandboxError
from hrlaif.verify.base import Verdict

log = logging.getLogger(__name__)

_LAUNCHER = str(Path(__file__).with_name("_launcher.py"))
REQUIRED_ISOLATION = ("no-network", "readonly-fs", "unprivileged")
_OUTPUT_CAP = 16_000  # characters of stdout/stderr kept in a result
_SETUP_FAILED = 97

Status = Literal["ok", "failed", "timeout", "memory", "limit", "error"]


@dataclass
class SandboxResult:
    """How one sandboxed program ended. ``status``: ok (exit 0), failed (non-zero exit or an
    exception), timeout (wall clock or CPU limit), memory (MemoryError / address-space limit),
    limit (file-size or other rlimit signal), error (the sandbox itself could not start)."""

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------- isolation probe

_probe_lock = threading.Lock()
_probe_result: list[str] | None = None
_uid_counter = itertools.count()


def _sandbox_uid() -> int:
    """An unused uid per run (so RLIMIT_NPROC and kill() never reach another sandbox or user)."""
    return 200_000 + (os.getpid() * 97 + next(_uid_counter)) % 100_000


def _private_ancestor(path: str) -> str | None:
    """The topmost ancestor of ``path`` that others cannot traverse (no o+x), e.g. ``/root``."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        anc = str(Path(*parts[:i]))
        if not os.stat(anc).st_mode & stat.S_IXOTH:
            return anc
    return None


def _hidden_dirs(userns: bool) -> list[list]:
    """Directories to cover with an empty tmpfs, each with the interpreter trees bound back inside.
    As root: every private ancestor (no o+x) of an interpreter tree (the venv and the base Python,
    e.g. ``/root`` for pyenv and a private checkout folder for the venv), so the dropped uid can run
    Python. In a user namespace the program keeps the caller's uid, so the caller's home directory
    (keys, configs) is covered instead."""
    prefixes = sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)})
    if userns:
        home = os.path.realpath(os.path.expanduser("~"))
        hidden = [home] if home not in ("/", "") and os.path.isdir(home) else []
    else:
        try:
            hidden = sorted({a for a in map(_private_ancestor, prefixes) if a is not None})
        except OSError:
            return []
    out = []
    for h in hidden:
        keeps = [p for p in prefixes if p.startswith(h.rstrip("/") + "/")]
        out.append([h, keeps])
    return out


_FORCE_USERNS = False  # tests: take the unprivileged (user-namespace) path even as root


def _launch_config(mode: str, workdir: str, argv: list[str], env: dict[str, str], limits: dict) -> dict:
    userns = os.getuid() != 0 or _FORCE_USERNS
    return {"mode": mode, "workdir": workdir, "argv": argv, "env": env, "limits": limits,
            "uid": _sandbox_uid(), "userns": userns, "hide": _hidden_dirs(userns)}


def _default_limits(timeout_s: float = 5.0, memory_mb: int = 512, max_procs: int = 32,
                    max_file_mb: int = 16, max_open_files: int = 64, max_disk_mb: int = 64) -> dict:
    return {"cpu_s": max(1, int(timeout_s + 0.999)), "memory_mb": memory_mb, "procs": max_procs,
            "file_mb": max_file_mb, "open_files": max_open_files, "disk_mb": max(max_disk_mb, max_file_mb)}


def _make_workdir(uid: int | None) -> str:
    d = tempfile.mkdtemp(prefix="hrlaif-sbx-")
    if uid is not None:
        os.chown(d, uid, uid)
    return d


def sandbox_isolation(*, refresh: bool = False) -> list[str]:
    """The isolation active for sandboxed code on this machine, e.g. ``["process", "rlimits",
    "tempdir", "scrubbed-env", "no-network", "readonly-fs", "unprivileged", "pid-namespace"]``.
    The last four come from a real probe run (cached per process)."""
    global _probe_result
    with _probe_lock:
        if _probe_result is None or refresh:
            base = ["process", "rlimits", "tempdir", "scrubbed-env"]
            _probe_result = base + _probe()
        return list(_probe_result)


def _probe() -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    cfg = _launch_config("probe", "", [], {}, _default_limits())
    work = _make_workdir(None if cfg["userns"] else cfg["uid"])
    cfg["workdir"] = work
    try:
        p = subprocess.run([sys.executable, "-I", "-S", _LAUNCHER, marshal.dumps(cfg).hex()], capture_output=True,
                           text=True, timeout=30, env=_scrubbed_env(work), stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            log.info("sandbox isolation unavailable: %s", (p.stderr or "").strip()[-300:])
            return []
        got = json.loads(p.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        log.info("sandbox probe failed: %s", e)
        return []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not got.get("tempdir-writable"):
        return []
    return [k for k in ("no-network", "readonly-fs", "unprivileged", "pid-namespace") if got.get(k)]


def _scrubbed_env(workdir: str) -> dict[str, str]:
    """Nothing of the caller's environment (API keys!) reaches sandboxed code."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


# --------------------------------------------------------------------------- running


def run_in_sandbox(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512, max_procs: int = 32,
                   max_file_mb: int = 16, max_open_files: int = 64, max_disk_mb: int = 64,
                   allow_unisolated: bool = False, files: dict[str, str] | None = None) -> SandboxResult:
    """Run ``program`` (Python source) as ``python -I main.py`` in a fresh temp dir under the
    sandbox; ``files`` adds more files beside it. Isolated, the temp dir is a tmpfs of
    ``max_disk_mb`` MiB (4,096 files at most). Raises ``SandboxError`` when isolation is missing
    and ``allow_unisolated`` is False, or when the sandbox cannot start."""
    iso = sandbox_isolation()
    missing = [k for k in REQUIRED_ISOLATION if k not in iso]
    if missing and not allow_unisolated:
        raise SandboxError(f"sandbox isolation unavailable on this machine (missing: {', '.join(missing)}); "
                           "refusing to run untrusted code; pass allow_unisolated=True "
                           "(CLI: --allow-unisolated) to run it with process limits only")
    mode = "plain" if missing else "isolated"
    limits = _default_limits(timeout_s, memory_mb, max_procs, max_file_mb, max_open_files, max_disk_mb)
    cfg = _launch_config(mode, "", [], {}, limits)
    work = _make_workdir(cfg["uid"] if mode == "isolated" and not cfg["userns"] else None)
    logs = tempfile.mkdtemp(prefix="hrlaif-sbx-out-")
    try:
        for name, text in {"main.py": program, **(files or {})}.items():
            path = os.path.join(work, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            if mode == "isolated" and not cfg["userns"]:
                os.chown(path, cfg["uid"], cfg["uid"])
        env = _scrubbed_env(work)
        cfg.update(workdir=work, env=env, argv=[sys.executable, "-I", "main.py"])
        t0 = time.perf_counter()
        with open(os.path.join(logs, "out"), "w+b") as out, open(os.path.join(logs, "err"), "w+b") as err:
            proc = subprocess.Popen([sys.executable, "-I", "-S", _LAUNCHER, marshal.dumps(cfg).hex()], cwd=work, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            timed_out = False
            try:
                proc.wait(timeout=timeout_s + 1.0)  # + interpreter start-up
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            rc = proc.returncode
            dt = time.perf_counter() - t0
            stdout, stderr = _read_capped(out), _read_capped(err)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
    if rc == _SETUP_FAILED and stderr.startswith("hrlaif-sandbox: setup failed"):
        raise SandboxError(stderr.strip())
    return SandboxResult(_status(rc, stderr, timed_out), rc, stdout, stderr, dt,
                         iso if mode == "isolated" else iso[:4])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _read_capped(fh) -> str:  # noqa: ANN001
    fh.seek(0)
    return fh.read(_OUTPUT_CAP * 4).decode("utf-8", errors="replace")[:_OUTPUT_CAP]


def _status(rc: int | None, stderr: str, timed_out: bool) -> Status:
    if timed_out or rc == -signal.SIGXCPU:
        return "timeout"
    if rc == 0:
        return "ok"
    if "MemoryError" in stderr or rc == -signal.SIGSEGV and "Cannot allocate memory" in stderr:
        return "memory"
    if rc == -signal.SIGXFSZ or "[Errno 27] File too large" in stderr or "[Errno 28] No space" in stderr:
        return "limit"
    return "failed"


def run_many(programs: Iterable[str], *, workers: int | None = None,
             on_done: Callable[[int, SandboxResult], None] | None = None, **kw) -> list[SandboxResult]:
    """``run_in_sandbox`` over many programs, ``workers`` at a time (default: one per CPU core)."""
    progs = list(programs)
    sandbox_isolation()  # probe once, before the threads start
    workers = max(1, workers or os.cpu_count() or 1)
    results: list[SandboxResult | None] = [None] * len(progs)

    def one(i: int) -> None:
        results[i] = run_in_sandbox(progs[i], **kw)
        if on_done:
            on_done(i, results[i])

    with ThreadPoolExecutor(max_workers=workers) as ex:
        for f in [ex.submit(one, i) for i in range(len(progs))]:
            f.result()
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- HumanEval verdicts

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(completion: str) -> str:
    """The code of a completion: the first fenced block if there is one, else the text as is."""
    m = _FENCE.search(completion)
    return m.group(1) if m else completion


def build_program(prompt: str, completion: str, tests: str, entry_point: str, marker: str) -> str:
    """``prompt + completion + tests + check(entry_point)``, then the end-marker line.
    A fenced completion is unwrapped first. A completion that defines ``entry_point`` itself at
    column 0 follows the prompt, so the prompt's imports and helpers stay: after a HumanEval-style
    stub (the prompt defines ``entry_point`` too) the stub is closed with ``pass``; after a prompt
    with no stub (MBPP style: empty, or only imports) the completion simply follows it."""
    code = extract_code(completion)
    defines = re.compile(rf"^def\s+{re.escape(entry_point)}\s*\(", re.M)
    if defines.search(code):
        head = prompt.rstrip("\n")
        if defines.search(prompt):
            body = head + "\n    pass\n\n" + code
        else:
            body = (head + "\n\n" if head.strip() else "") + code
    else:
        body = prompt + code
    return (f"{body}\n\n{tests}\n\ncheck({entry_point})\n"
            f"import sys as _hrlaif_sys\n_hrlaif_sys.stdout.write('\\n{marker}\\n')\n")


def _program_and_marker(prompt: str, completion: str, tests: str, entry_point: str) -> tuple[str, str]:
    if not entry_point or not entry_point.isidentifier():
        raise SandboxError(f"entry_point must be a Python identifier, got {entry_point!r}")
    marker = "HRLAIF-DONE-" + secrets.token_hex(16)
    return build_program(prompt, completion, tests, entry_point, marker), marker


def code_verdict(result: SandboxResult, marker: str) -> Verdict:
    """Map a sandbox result to a verdict: correct only if the process exited 0 after ``check``."""
    passed = result.ok and marker in result.stdout
    tail = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
    if passed:
        reason = "all tests passed"
    elif result.ok:
        reason = "exited before the tests finished"
    elif result.status == "timeout":
        reason = "timed out"
    elif result.status == "memory":
        reason = "memory limit exceeded"
    elif result.status == "limit":
        reason = "resource limit exceeded"
    else:
        reason = "tests failed: " + (tail[0][:200] if tail else f"exit code {result.returncode}")
    return Verdict(passed, None, reason, "code",
                   {"status": result.status, "returncode": result.returncode,
                    "duration_s": round(result.duration_s, 3), "isolation": result.isolation,
                    "stderr_tail": result.stderr[-1000:]})


def verify_code(prompt: str, completion: str, tests: str, entry_point: str, **sandbox_opts) -> Verdict:
    """Run HumanEval-style ``tests`` (defining ``check(candidate)``) on ``prompt + completion``.
    ``sandbox_opts`` go to ``run_in_sandbox`` (timeout_s, memory_mb, allow_unisolated, ...)."""
    program, marker = _program_and_marker(prompt, completion, tests, entry_point)
    return code_verdict(run_in_sandbox(program, **sandbox_opts), marker)


def verify_code_many(items: Iterable[tuple[str, str, str, str]], *, workers: int | None = None,
                     on_done: Callable[[int, Verdict], None] | None = None, **sandbox_opts) -> list[Verdict]:
    """``verify_code`` over ``(prompt, completion, tests, entry_point)`` tuples, in parallel."""
    pm = [_program_and_marker(*it) for it in items]
    done = (lambda i, r: on_done(i, code_verdict(r, pm[i][1]))) if on_done else None
    results = run_many([p for p, _ in pm], workers=workers, on_done=done, **sandbox_opts)
    return [code_verdict(r, m) for r, (_, m) in zip(results, pm)]
