"""Sandbox launcher: run as a script (``python -I -S _launcher.py CONFIG_HEX``), never imported.

Stdlib only, and only cheap modules (its start-up is paid per program): the config comes as a
hex-encoded ``marshal`` dict, and ``_signal`` stands in for ``signal`` (which imports ``enum``). In ``isolated`` mode it, in this order:

1. enters new mount, network, IPC and PID namespaces (plus a user namespace when not root);
2. hides a private directory that holds the interpreter (e.g. ``/root`` on pyenv installs) behind
   an empty tmpfs and binds only the interpreter's tree back, read-only;
3. mounts a size-capped tmpfs on the temp working dir (the staged files copied in) and remounts
   every other mount read-only;
4. forks: the child is PID 1 of the new PID namespace (all its descendants die with it);
5. applies rlimits (CPU, address space, processes, file size, open files, no core dumps);
6. drops privileges: as root, switches to an unused uid/gid; inside a user namespace, empties the
   capability bounding set; always sets no_new_privs (setuid binaries grant nothing);
7. execs ``python -I main.py`` in the temp dir with the scrubbed environment it was given.

``plain`` mode does only 5 and 7 (the unisolated fallback, used only on opt-in). ``probe`` mode
does the isolated setup and, instead of 7, checks what it achieved and prints it as JSON.
"""

import _signal
import ctypes
import marshal
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC = (
    0x00020000, 0x10000000, 0x20000000, 0x40000000, 0x08000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
_OPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
              "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 28, 38, 47

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class SetupError(Exception):
    pass


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None):
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unescape(path):
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _mounts():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            yield _unescape(parts[4]), parts[5].split(",")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(cfg):
    uid, gid = os.getuid(), os.getgid()
    userns = uid != 0 or cfg.get("userns", False)
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID | (CLONE_NEWUSER if userns else 0)
    _check(_libc.unshare(flags), "unshare")
    if userns:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    work = cfg["workdir"]
    # the temp dir becomes a size-capped tmpfs (no filling the disk), holding the staged files
    staged = {}
    for name in os.listdir(work):
        with open(os.path.join(work, name), "rb") as f:
            staged[name] = f.read()
    owner = "" if userns else f",uid={cfg['uid']},gid={cfg['uid']}"
    _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={int(cfg['limits']['disk_mb'])}m,nr_inodes=4096,mode=700{owner}")
    for name, data in staged.items():
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        if not userns:
            os.chown(path, cfg["uid"], cfg["uid"])
    for hidden, keeps in cfg.get("hide", []):
        # keep the interpreter trees reachable through fds while the private dir is covered
        fds = [(os.open(k, os.O_RDONLY | os.O_DIRECTORY), k) for k in keeps]
        _mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for fd, keep in fds:
            os.makedirs(keep, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", keep, None, MS_BIND | MS_REC)
            os.close(fd)
    for target, opts in list(_mounts()):
        if target == work or "ro" in opts:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for o in opts:
            flags |= _OPT_FLAGS.get(o, 0)
        try:
            _mount(None, target, None, flags)
        except SetupError:
            if not (target.startswith("/proc") or target.startswith("/sys")):
                raise
    return userns


def _limits(lim):
    cpu = int(lim["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    mem = int(lim["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsz = int(lim["file_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(lim["open_files"]),) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (int(lim["procs"]),) * 2)


def _drop_privileges(cfg, userns):
    if not userns:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    else:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
        _check(_libc.prctl(PR_SET_SECUREBITS, 0x2F, 0, 0, 0), "securebits")  # noroot, no fixup, locked
        for cap in range(last + 1):
            _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "capbset drop")
        _libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # clear all ambient caps
        hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
        data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (x2 words): all empty
        _check(_libc.capset(hdr, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _probe(cfg):
    """After setup: check what isolation really holds. Prints JSON."""
    import json
    import socket

    out = {}
    try:
        socket.create_connection(("127.0.0.1", int(cfg.get("probe_port", 9))), timeout=1).close()
        out["no-network"] = False
    except OSError as e:
        # refused would mean the loopback stack is reachable; unreachable means no network at all
        out["no-network"] = e.errno != 111
    outside = os.path.join(os.path.dirname(cfg["workdir"].rstrip("/")), f".hrlaif-probe-{os.getpid()}")
    try:
        with open(outside, "w") as f:
            f.write("x")
        os.unlink(outside)
        out["readonly-fs"] = False
    except OSError:
        out["readonly-fs"] = True
    try:
        with open(os.path.join(cfg["workdir"], "probe.txt"), "w") as f:
            f.write("x")
        out["tempdir-writable"] = True
    except OSError:
        out["tempdir-writable"] = False
    with open("/proc/self/status") as f:
        caps = [ln.split()[1] for ln in f if ln.startswith(("CapEff", "CapBnd"))]
    out["unprivileged"] = os.getuid() != 0 or all(int(c, 16) == 0 for c in caps)
    out["pid-namespace"] = os.getpid() == 1
    print(json.dumps(out))


def main():
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    mode = cfg["mode"]
    if mode == "plain":
        _limits(cfg["limits"])
        os.chdir(cfg["workdir"])
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    try:
        userns = _enter_namespaces(cfg)
    except (SetupError, OSError) as e:
        print(f"hrlaif-sandbox: setup failed: {e}", file=sys.stderr)
        os._exit(97)
    pid = os.fork()
    if pid:  # stay as the waiting parent; relay the child's end
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            _signal.signal(sig, _signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(os.waitstatus_to_exitcode(status))
    try:
        try:  # a /proc that shows only this sandbox's processes
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        except SetupError:
            pass
        _limits(cfg["limits"])
        _drop_privileges(cfg, userns)
        os.chdir(cfg["workdir"])
    except (SetupError, OSError) as e:
        print(f"hrlaif-sandbox: setup failed: {e}", file=sys.stderr)
        os._exit(97)
    if mode == "probe":
        _probe(cfg)
        sys.stdout.flush()
        os._exit(0)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


if __name__ == "__main__":
    main()
