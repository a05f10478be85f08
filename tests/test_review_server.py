"""The review server's security over real HTTP on 127.0.0.1: token, CSRF, origin, host, paths, headers."""

from __future__ import annotations

import http.client
import json
import logging

import pytest

from hrlaif.errors import ConfigError
from hrlaif.review.server import ReviewConfig, ReviewServer, prepare, serve
from hrlaif.review.web import csrf_token
from test_review_support import make_run


@pytest.fixture(scope="module")
def srv(tmp_path_factory, data_dir):
    run = make_run(tmp_path_factory.mktemp("review") / "run", data_dir)
    db, _ = prepare(ReviewConfig(run_dir=str(run)))
    s = serve(db)
    yield s
    s.shutdown()


def req(srv, method: str, path: str, *, headers: dict | None = None, body: bytes | dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    h = {"Host": f"127.0.0.1:{srv.port}", **(headers or {})}
    conn.putrequest(method, path, skip_host=True)
    for k, v in h.items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def cookie(srv) -> str:
    return f"hrlaif_review_{srv.port}={srv.token}"


def first_label_id(srv) -> int:
    st, _, data = req(srv, "GET", "/api/next?kind=label&reviewer=zed", headers={"Cookie": cookie(srv)})
    assert st == 200
    return json.loads(data)["item"]["id"]


@pytest.mark.parametrize("path", ["/", "/api/state", "/api/results", "/static/app.js", "/api/export?kind=labels"])
def test_requests_without_token_are_refused(srv, path):
    st, _, body = req(srv, "GET", path)
    assert st == 401
    assert b"token" in body
    st, _, _ = req(srv, "GET", path, headers={"Cookie": f"hrlaif_review_{srv.port}=wrong"})
    assert st == 401


def test_token_link_sets_strict_httponly_cookie_and_hides_token(srv):
    st, _, _ = req(srv, "GET", "/?token=not-the-token")
    assert st == 403
    st, h, _ = req(srv, "GET", f"/?token={srv.token}")
    assert st == 303 and h["Location"] == "/"
    c = h["Set-Cookie"]
    assert c.startswith(cookie(srv)) and "HttpOnly" in c and "SameSite=Strict" in c
    st, h, body = req(srv, "GET", "/", headers={"Cookie": cookie(srv)})
    assert st == 200 and h["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in h["Content-Security-Policy"] and "default-src 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
    assert csrf_token(srv.token).encode() in body and srv.token.encode() not in body


def test_post_needs_csrf_same_origin_and_json(srv):
    item = first_label_id(srv)
    body = {"reviewer": "zed", "item_id": item, "choice": "a"}
    base = {"Cookie": cookie(srv), "Content-Type": "application/json", "Origin": srv.origin}
    good = {**base, "X-CSRF-Token": csrf_token(srv.token)}
    assert req(srv, "POST", "/api/label", headers=base, body=body)[0] == 403  # cookie alone: no CSRF token
    assert req(srv, "POST", "/api/label", headers={**good, "X-CSRF-Token": "0" * 64}, body=body)[0] == 403
    assert req(srv, "POST", "/api/label", headers={**good, "Origin": "http://evil.example"}, body=body)[0] == 403
    no_origin_cross_site = {k: v for k, v in good.items() if k != "Origin"} | {"Sec-Fetch-Site": "cross-site"}
    assert req(srv, "POST", "/api/label", headers=no_origin_cross_site, body=body)[0] == 403
    bearer_cross = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/json",
                    "Origin": "http://evil.example"}
    assert req(srv, "POST", "/api/label", headers=bearer_cross, body=body)[0] == 403
    # a classic cross-site form post: wrong content type, no CSRF header
    form = {"Cookie": cookie(srv), "Content-Type": "application/x-www-form-urlencoded", "Origin": srv.origin,
            "X-CSRF-Token": csrf_token(srv.token)}
    assert req(srv, "POST", "/api/label", headers=form, body=b"reviewer=zed&item_id=1&choice=a")[0] == 415
    st, _, data = req(srv, "POST", "/api/label", headers=good, body=body)
    assert st == 200 and json.loads(data)["label"] in ("first", "second")
    assert req(srv, "POST", "/api/label", headers=good, body=b"x" * (64 * 1024 + 1))[0] == 413
    st, _, data = req(srv, "POST", "/api/label", headers=good, body=b"{not json")
    assert st == 400 and b"JSON" in data
    st, _, data = req(srv, "POST", "/api/label", headers=good, body={**body, "choice": "<script>"})
    assert st == 400 and b"choice" in data


def test_item_endpoint_for_undo_is_blind_and_validated(srv):
    item = first_label_id(srv)
    st, _, data = req(srv, "GET", f"/api/item?kind=label&reviewer=zed&id={item}", headers={"Cookie": cookie(srv)})
    got = json.loads(data)["item"]
    assert st == 200 and got["id"] == item and "ai_labels" not in got and {"a", "b"} <= set(got)
    assert req(srv, "GET", "/api/item?kind=label&reviewer=zed&id=x", headers={"Cookie": cookie(srv)})[0] == 400
    assert req(srv, "GET", "/api/item?kind=label&reviewer=zed&id=9999", headers={"Cookie": cookie(srv)})[0] == 400
    assert req(srv, "GET", f"/api/item?kind=other&reviewer=zed&id={item}", headers={"Cookie": cookie(srv)})[0] == 400


def test_host_header_must_name_this_server(srv):
    st, _, _ = req(srv, "GET", "/api/state", headers={"Host": f"evil.example:{srv.port}", "Cookie": cookie(srv)})
    assert st == 403
    assert req(srv, "GET", "/api/state", headers={"Host": f"localhost:{srv.port}", "Cookie": cookie(srv)})[0] == 200


@pytest.mark.parametrize("path", ["/static/../../../../etc/passwd", "/static/%2e%2e/server.py", "/static/index.html",
                                  "/review.sqlite", "/api/export?kind=../../etc/passwd&format=csv"])
def test_no_file_path_from_the_request(srv, path):
    st, _, body = req(srv, "GET", path, headers={"Cookie": cookie(srv)})
    assert st in (400, 404)
    assert b"root:" not in body and b"SQLite" not in body


def test_static_and_exports_are_served_with_types(srv):
    st, h, body = req(srv, "GET", "/static/app.js", headers={"Cookie": cookie(srv)})
    assert st == 200 and h["Content-Type"].startswith("text/javascript") and b"textContent" in body
    st, h, body = req(srv, "GET", "/api/export?kind=labels&format=csv", headers={"Cookie": cookie(srv)})
    assert st == 200 and "attachment" in h["Content-Disposition"] and body.startswith(b"kind,judgement_id")


def test_token_never_logged(srv, caplog):
    with caplog.at_level(logging.DEBUG, logger="hrlaif.review.web"):
        req(srv, "GET", f"/?token={srv.token}")
        req(srv, "GET", "/api/state", headers={"Cookie": cookie(srv)})
    assert caplog.records and srv.token not in caplog.text


def test_non_loopback_bind_needs_allow_remote(tmp_path):
    with pytest.raises(ConfigError, match="allow-remote"):
        ReviewServer(tmp_path / "r.sqlite", host="0.0.0.0")


def test_start_is_idempotent_and_shutdown_returns(tmp_path):
    import threading

    srv = serve(tmp_path / "r.sqlite")
    srv.start()  # a second start (e.g. `with serve(...)`) must not spawn a second serving loop
    assert sum(th.name == f"hrlaif-review-{srv.port}" and th.is_alive() for th in threading.enumerate()) == 1
    t = threading.Thread(target=srv.shutdown)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive()
