"""Human review page: blind spot checks of AI labels, satisfaction ratings, AI-vs-human agreement.

    hrlaif review --run-dir runs/demo                      # labels_*.jsonl + eval/responses_*.jsonl
    hrlaif review --labels basic=l1.jsonl hybrid=l2.jsonl --policies sft=a.jsonl hrlaif=b.jsonl
    hrlaif review --out review --results-only              # print the numbers, no server
    hrlaif review --out review --export judgements.csv     # or .jsonl

Serves a local page (127.0.0.1 by default) that needs the access token printed at start.
Everything is stored in ``<out>/review.sqlite``; a restart keeps every judgement.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hrlaif.config import opt
from hrlaif.errors import ConfigError

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ReviewConfig:
    run_dir: str = opt("", "a `hrlaif run` folder: reads labels_<source>.jsonl and eval/responses_<policy>.jsonl")
    labels: list[str] = opt(None, "Ranking JSONL files to spot-check, as SOURCE=PATH (or PATH)", factory=list)
    policies: list[str] = opt(None, "ResponseSet JSONL files to rate, as POLICY=PATH (or PATH)", factory=list)
    out: str = opt("", "folder for review.sqlite, the saved config and results.json "
                       "(default: <run_dir>/review, else ./review)")
    per_category: int = opt(20, "items sampled per category (label pairs; prompts for satisfaction)")
    seed: int = opt(0, "sampling and A/B-order seed (fixed when the database is created)")
    host: str = opt("127.0.0.1", "address to bind; anything but loopback also needs --allow-remote")
    port: int = opt(8765, "port to bind (0 = any free port)")
    allow_remote: bool = opt(False, "allow binding a non-loopback address (the token is then sent in clear text)")
    results_only: bool = opt(False, "print the results (and write <out>/results.json) without starting the server")
    export: str = opt("", "write every latest judgement to this .csv or .jsonl file and exit")
    open_browser: bool = opt(False, "open the page in the default browser")


def out_dir(cfg: ReviewConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    return Path(cfg.run_dir) / "review" if cfg.run_dir else Path("review")


def db_path(cfg: ReviewConfig) -> Path:
    return out_dir(cfg) / "review.sqlite"


def prepare(cfg: ReviewConfig) -> tuple[Path, dict[str, int]]:
    """Create or open ``<out>/review.sqlite`` and import the sampled items of the inputs the config
    names (idempotent). Returns the database path and the counts of new items."""
    from hrlaif.config import config_path_for, save_config
    from hrlaif.review import items as it
    from hrlaif.review.store import Store

    if cfg.per_category < 1:
        raise ConfigError("per_category must be at least 1")
    labels = it.parse_named(cfg.labels, "labels")
    policies = it.parse_named(cfg.policies, "policies")
    if cfg.run_dir:
        run_labels, run_policies = it.find_run_inputs(cfg.run_dir)
        labels = {**run_labels, **labels}
        policies = {**run_policies, **policies}
        if not run_labels and not run_policies:
            log.warning("run_dir %s holds no labels_*.jsonl and no eval/responses_*.jsonl", cfg.run_dir)
    db = db_path(cfg)
    if not labels and not policies and not db.exists():
        raise ConfigError("nothing to review: give --run-dir, --labels or --policies (or --out with an existing "
                          "review.sqlite)")
    label_items = it.sample_label_items(it.load_label_sources(labels), per_category=cfg.per_category,
                                        seed=cfg.seed) if labels else []
    sat_items = it.sample_sat_items(it.load_policies(policies), per_category=cfg.per_category,
                                    seed=cfg.seed) if policies else []
    with Store(db, seed=cfg.seed) as store:
        if store.seed != cfg.seed:
            log.warning("%s was created with seed %d; keeping it (A/B orders must not change)", db, store.seed)
        new = {"label_items": store.add_label_items(label_items), "sat_items": store.add_sat_items(sat_items)}
    save_config(cfg, config_path_for(out_dir(cfg)), stage="review")
    log.info("review database %s: %d new label pairs (%s), %d new satisfaction items (%s)", db,
             new["label_items"], ", ".join(labels) or "-", new["sat_items"], ", ".join(policies) or "-")
    return db, new


class ReviewServer:
    """The running page: ``url`` (with the token), ``token``, ``port``; ``shutdown()`` to stop."""

    def __init__(self, db: str | Path, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 allow_remote: bool = False):
        from http.server import ThreadingHTTPServer

        from hrlaif.review.web import make_handler
        from hrlaif.review.store import Store

        if host not in LOOPBACK and not allow_remote:
            raise ConfigError(f"host {host!r} is not a loopback address; pass --allow-remote to bind it")
        self.token = token or secrets.token_urlsafe(24)
        self.store = Store(db)
        cls = ThreadingHTTPServer
        if ":" in host:
            import socket

            cls = type("ThreadingHTTPServerV6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self.httpd = cls((host, port), make_handler(self.store, self.token, host))
        except OSError as e:
            self.store.close()
            raise ConfigError(f"cannot bind {host}:{port}: {e.strerror or e}") from None
        self.host, self.port = host, self.httpd.server_address[1]
        self.httpd.RequestHandlerClass.port = self.port  # the handler checks Host/Origin against it
        shown = f"[{host}]" if ":" in host else host
        self.origin = f"http://{shown}:{self.port}"
        self.url = f"{self.origin}/?token={self.token}"
        self._thread: threading.Thread | None = None

    def start(self) -> "ReviewServer":
        """Serve in a background thread (tests, notebooks); a second call does nothing."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"hrlaif-review-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.store.close()

    def __enter__(self) -> "ReviewServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(db: str | Path, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
          allow_remote: bool = False) -> ReviewServer:
    """Start the review page on ``db`` in a background thread and return it (``.url`` has the token)."""
    return ReviewServer(db, host=host, port=port, token=token, allow_remote=allow_remote).start()


def cli(cfg: ReviewConfig) -> int:
    import json

    from hrlaif.data import atomic_write_text
    from hrlaif.review.results import export, results_tables, review_results
    from hrlaif.review.store import Store
    from hrlaif.ui import print_table

    if cfg.host not in LOOPBACK and not cfg.allow_remote:
        raise ConfigError(f"host {cfg.host!r} is not a loopback address; pass --allow-remote to bind it")
    db, new = prepare(cfg)
    if cfg.export:
        with Store(db) as store:
            n = export(store, cfg.export)
        print(f"wrote {cfg.export}: {n['labels']} label judgements, {n['satisfaction']} satisfaction ratings")
    if cfg.results_only or cfg.export:
        res = review_results(db)
        atomic_write_text(out_dir(cfg) / "results.json", json.dumps(res, indent=2, ensure_ascii=False) + "\n")
        for title, cols, rows in results_tables(res):
            print_table(title, cols, rows)
        print(f"results: {out_dir(cfg) / 'results.json'}")
        return 0
    server = ReviewServer(db, host=cfg.host, port=cfg.port, allow_remote=cfg.allow_remote)
    with Store(db) as store:
        c = store.counts()
    print(f"review database: {db} ({c['label_items']} label pairs, {c['sat_items']} satisfaction items; "
          f"{c['label_judgements']} + {c['sat_judgements']} judgements so far; new: {new['label_items']} + "
          f"{new['sat_items']})")
    print(f"open: {server.url}", flush=True)
    print("(the token in the link is the key to the page; Ctrl-C stops the server)", flush=True)
    if cfg.open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    res = review_results(db)
    atomic_write_text(out_dir(cfg) / "results.json", json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    for title, cols, rows in results_tables(res):
        print_table(title, cols, rows)
    return 0
