"""HTTP layer of the review page (stdlib ``http.server``): access token, CSRF defence, JSON API.

Security model:

* **Access token.** ``/?token=T`` (the link printed at start) sets an ``HttpOnly; SameSite=Strict``
  cookie and redirects to ``/`` so the token leaves the address bar; scripts may send
  ``Authorization: Bearer T`` instead. Every other request without one of the two gets 401.
* **Cross-site requests.** A POST must be JSON, carry the page's CSRF token (an HMAC of the access
  token, embedded in the page) in ``X-CSRF-Token`` when authenticated by cookie, and come from this
  origin (``Origin``/``Sec-Fetch-Site``). The Host header must name this server (no DNS rebinding).
* **Untrusted text.** The API returns model outputs as JSON strings; the page puts them in the DOM
  with ``textContent`` only. A strict Content-Security-Policy (no inline script, same-origin only)
  backs that up.
* **No path from a request.** Static files come from a fixed table loaded at start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hrlaif.errors import HrlaifError, InputError
from hrlaif.review.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_STATIC = {  # URL path → (file in hrlaif/review/static, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


def csrf_token(token: str) -> str:
    """The CSRF token the page sends back: HMAC-SHA256(access token, "csrf")."""
    return hmac.new(token.encode(), b"hrlaif-review-csrf", hashlib.sha256).hexdigest()


def _load_static(csrf: str) -> dict[str, tuple[bytes, str]]:
    root = resources.files("hrlaif.review") / "static"
    out = {}
    for url, (name, ctype) in _STATIC.items():
        text = (root / name).read_text(encoding="utf-8")
        if name == "index.html":
            text = text.replace("{{CSRF}}", csrf)  # hex digits only: nothing to escape
        out[url] = (text.encode("utf-8"), ctype)
    return out


def make_handler(store: Store, token: str, host: str) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one store and one token (``port`` is set after binding)."""
    csrf = csrf_token(token)
    static = _load_static(csrf)

    class Handler(BaseHTTPRequestHandler):
        server_version = "hrlaif-review"
        sys_version = ""
        port = 0

        # -------------------------------------------------------------- checks
        def _hosts(self) -> set[str]:
            names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
            return {f"{n}:{self.port}" for n in names}

        def _origins(self) -> set[str]:
            return {f"http://{h}" for h in self._hosts()}

        def _cookie_name(self) -> str:
            return f"hrlaif_review_{self.port}"

        def _auth(self) -> str | None:
            """``"cookie"``, ``"bearer"`` or ``None``."""
            authz = self.headers.get("Authorization", "")
            if authz.startswith("Bearer ") and hmac.compare_digest(authz[7:].strip().encode(), token.encode()):
                return "bearer"
            raw = self.headers.get("Cookie")
            if raw:
                try:
                    c = SimpleCookie(raw)
                except Exception:  # a malformed cookie header is the client's problem: treat as absent
                    return None
                m = c.get(self._cookie_name())
                if m is not None and hmac.compare_digest(m.value.encode(), token.encode()):
                    return "cookie"
            return None

        def _host_ok(self) -> bool:
            return self.headers.get("Host", "") in self._hosts()

        def _same_origin(self) -> bool:
            origin = self.headers.get("Origin")
            if origin is not None:
                return origin in self._origins()
            return self.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")

        # -------------------------------------------------------------- responses
        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                       "application/json; charset=utf-8", extra)

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": message})

        def log_message(self, fmt: str, *args: Any) -> None:  # never log the query (it may hold the token)
            log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, args[1] if len(args) > 1 else "")

        # -------------------------------------------------------------- GET
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if not self._host_ok():
                return self._error(403, "unexpected Host header")
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/" and "token" in q:
                if not hmac.compare_digest(q["token"].encode(), token.encode()):
                    return self._error(403, "wrong token")
                cookie = f"{self._cookie_name()}={token}; HttpOnly; SameSite=Strict; Path=/"
                return self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
            if self._auth() is None:
                return self._send(401, b"401: open the link with the token that `hrlaif review` printed.\n",
                                  "text/plain; charset=utf-8")
            try:
                if url.path == "/favicon.ico":
                    return self._send(204, b"", "image/x-icon")
                if url.path in static:
                    body, ctype = static[url.path]
                    return self._send(200, body, ctype)
                if url.path == "/api/state":
                    reviewer = q.get("reviewer") or None
                    return self._json(200, {k: store.progress(k, reviewer) for k in ("label", "satisfaction")})
                if url.path == "/api/next":
                    kind = q.get("kind", "label")
                    item = store.next_item(kind, q.get("reviewer", ""), q.get("category") or None)
                    return self._json(200, {"item": item, "progress": store.progress(kind, q.get("reviewer"))})
                if url.path == "/api/item":
                    try:
                        item_id = int(q.get("id", ""))
                    except ValueError:
                        raise InputError("id must be an integer", field="id") from None
                    return self._json(200, {"item": store.item(q.get("kind", "label"), q.get("reviewer", ""),
                                                               item_id)})
                if url.path == "/api/results":
                    from hrlaif.review.results import review_results

                    return self._json(200, review_results(store))
                if url.path == "/api/export":
                    return self._export(q.get("kind", "labels"), q.get("format", "csv"))
                return self._error(404, "not found")
            except InputError as e:
                return self._error(400, str(e))
            except Exception:
                log.exception("review GET %s failed", url.path)
                return self._error(500, "internal error (see the server log)")

        do_HEAD = do_GET

        def _export(self, kind: str, fmt: str) -> None:
            from hrlaif.review import results as R

            if kind == "results":
                body = json.dumps(R.review_results(store), indent=2, ensure_ascii=False) + "\n"
                name, ctype = "review_results.json", "application/json; charset=utf-8"
            elif kind in ("labels", "satisfaction") and fmt in ("csv", "jsonl"):
                recs = R.judgement_records(store, kind)
                if fmt == "csv":
                    body = R.to_csv(recs, R.LABEL_COLUMNS if kind == "labels" else R.SAT_COLUMNS)
                    ctype = "text/csv; charset=utf-8"
                else:
                    body, ctype = R.to_jsonl(recs), "application/x-ndjson; charset=utf-8"
                name = f"review_{kind}.{fmt}"
            else:
                return self._error(400, "export: kind is labels, satisfaction or results; format csv or jsonl")
            return self._send(200, body.encode("utf-8"), ctype,
                              {"Content-Disposition": f'attachment; filename="{name}"'})

        # -------------------------------------------------------------- POST
        def do_POST(self) -> None:  # noqa: N802
            if not self._host_ok():
                return self._error(403, "unexpected Host header")
            how = self._auth()
            if how is None:
                return self._error(401, "missing or wrong token")
            if not self._same_origin():
                return self._error(403, "cross-origin request refused")
            if how == "cookie" and not hmac.compare_digest(self.headers.get("X-CSRF-Token", "").encode(),
                                                           csrf.encode()):
                return self._error(403, "missing or wrong CSRF token")
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return self._error(415, "send application/json")
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                return self._error(400, "bad Content-Length")
            if not 0 < length <= MAX_BODY:
                return self._error(413 if length > MAX_BODY else 400, f"body must be 1..{MAX_BODY} bytes")
            try:
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                if not isinstance(body, dict):
                    raise InputError("expected a JSON object")
                path = urlsplit(self.path).path
                if path == "/api/label":
                    return self._json(200, store.record_label(body.get("reviewer"), body.get("item_id"),
                                                              body.get("choice")))
                if path == "/api/satisfaction":
                    return self._json(200, store.record_satisfaction(body.get("reviewer"), body.get("item_id"),
                                                                     body.get("satisfied"), body.get("reason", "")))
                return self._error(404, "not found")
            except (UnicodeDecodeError, json.JSONDecodeError):
                return self._error(400, "body is not valid JSON")
            except HrlaifError as e:
                return self._error(400, str(e))
            except Exception:
                log.exception("review POST failed")
                return self._error(500, "internal error (see the server log)")

    return Handler
