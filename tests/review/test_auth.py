"""Sign-in and roles: token files, the proxy header, the CLI's refusal to serve unauthenticated off loopback,
and the app's sign-in flow and admin-only actions (AppTest)."""
import argparse
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.reviews import ReviewLog
from gristmill.cli import main
from gristmill.commands import review
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
from labeling_ui.auth import (ENV_ADMINS, ENV_AUTH_HEADER, ENV_AUTH_TOKENS, AuthError, Identity, check_token,
                              hash_token, header_identity, load_tokens, require_admin)
from tests.review.workspaces import small_workspace

APP = str(Path(__file__).parents[2] / "labeling_ui" / "app.py")
ALICE, BOB = "alice-secret-0f3c9a", "bob-secret-77d1e2"


def _write_tokens(path: Path, reviewers: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"reviewers": reviewers}))
    return path


@pytest.fixture
def tokens(tmp_path) -> Path:
    return _write_tokens(tmp_path / "tokens.yaml", [
        {"name": "alice", "role": "admin", "token_sha256": hash_token(ALICE)},
        {"name": "bob", "token_sha256": hash_token(BOB)}])


# -- token files -------------------------------------------------------------------------------------------
def test_a_token_file_signs_each_reviewer_in_with_their_role(tokens):
    loaded = load_tokens(tokens)
    assert check_token(loaded, ALICE) == Identity("alice", "admin")
    assert check_token(loaded, f" {BOB}\n") == Identity("bob", "reviewer")
    assert check_token(loaded, "not-a-token") is None
    assert check_token(loaded, hash_token(ALICE)) is None, "the stored hash is not a token"


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("reviewers: [", "is not valid YAML"),
    ("- alice", "must be a mapping with a `reviewers` list"),
    ("reviewers: []", "reviewers: List should have at least 1 item"),
    ({"reviewers": [{"name": "alice", "token_sha256": "ABC"}]}, "reviewers.0.token_sha256: String should match"),
    ({"reviewers": [{"name": "alice", "role": "owner", "token_sha256": "0" * 64}]},
     "reviewers.0.role: Input should be"),
    ({"reviewers": [{"name": "a b", "token_sha256": "0" * 64}]}, "reviewers.0.name: String should match"),
    ({"reviewers": [{"name": "alice", "token": "x", "token_sha256": "0" * 64}]}, "reviewers.0.token: Extra inputs"),
    ({"reviewers": [{"name": "alice", "token_sha256": "0" * 64}, {"name": "alice", "token_sha256": "1" * 64}]},
     "each reviewer needs their own name; repeated: alice"),
    ({"reviewers": [{"name": "alice", "token_sha256": "0" * 64}, {"name": "bob", "token_sha256": "0" * 64}]},
     "each reviewer needs their own token_sha256; repeated: 00000000…"),
])
def test_token_file_errors_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "tokens.yaml"
    if content is not None:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    with pytest.raises(AuthError) as caught:
        load_tokens(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_the_proxy_header_names_the_reviewer_and_admins_get_their_role():
    admins = frozenset({"alice"})
    assert header_identity({"X-Forwarded-User": "alice"}, "X-Forwarded-User", admins) == Identity("alice", "admin")
    assert header_identity({"X-Forwarded-User": "bob@example.org"}, "X-Forwarded-User", admins).role == "reviewer"
    assert header_identity({}, "X-Forwarded-User", admins) is None
    assert header_identity({"X-Forwarded-User": "../etc"}, "X-Forwarded-User", admins) is None


def test_only_admins_take_admin_actions():
    require_admin(Identity("alice", "admin"), "retrain the engine")
    with pytest.raises(AuthError, match="only admins may retrain the engine; bob signed in as a reviewer"):
        require_admin(Identity("bob", "reviewer"), "retrain the engine")


# -- the CLI -----------------------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    review.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", "::", "review.example.org"])
def test_the_cli_refuses_a_non_loopback_address_without_sign_in(address, tmp_path, capsys):
    ws = small_workspace(tmp_path / "ws", n=2)
    with pytest.raises(GristmillError, match=f"refusing to serve the review app on {address} without sign-in"):
        review.run(_args(str(ws.root), "--address", address))
    assert main(["review", str(ws.root), "--address", address]) == 2
    assert "--insecure-no-auth" in capsys.readouterr().err
    assert review.sign_in_env(_args("ws", "--address", address, "--insecure-no-auth")) == {}


def test_the_cli_checks_sign_in_options_before_serving(tokens, tmp_path):
    assert review.sign_in_env(_args("ws", "--address", "127.0.0.1")) == {}
    assert review.sign_in_env(_args("ws", "--address", "0.0.0.0", "--auth", str(tokens))) == {
        ENV_AUTH_TOKENS: str(tokens.resolve())}
    assert review.sign_in_env(_args("ws", "--auth-header", "X-Forwarded-User", "--admins", "alice")) == {
        ENV_AUTH_HEADER: "X-Forwarded-User", ENV_ADMINS: "alice"}
    with pytest.raises(AuthError, match="does not exist"):
        review.sign_in_env(_args("ws", "--auth", str(tmp_path / "missing.yaml")))
    with pytest.raises(GristmillError, match="--reviewer is for use without sign-in"):
        review.sign_in_env(_args("ws", "--auth", str(tokens), "--reviewer", "mallory"))
    with pytest.raises(GristmillError, match="--admins names admins for --auth-header"):
        review.sign_in_env(_args("ws", "--auth", str(tokens), "--admins", "bob"))
    with pytest.raises(SystemExit):  # argparse: not allowed with each other
        _args("ws", "--auth", str(tokens), "--insecure-no-auth")


# -- the app -----------------------------------------------------------------------------------------------
@pytest.fixture
def ws(tmp_path):
    return small_workspace(tmp_path / "ws", n=40)


def _app(ws, monkeypatch, **env) -> AppTest:
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, "typed-name")  # must never reach the log once reviewers sign in
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(APP, default_timeout=60)


def _sign_in(at: AppTest, token: str) -> AppTest:
    at.text_input(key="signin_token").input(token)
    return at.button(key="FormSubmitter:signin-Sign in").click().run()


def test_a_token_signs_in_once_and_the_log_names_who_clicked(ws, tokens, monkeypatch):
    at = _app(ws, monkeypatch, **{ENV_AUTH_TOKENS: str(tokens)}).run()
    assert at.title[0].value == "Sign in" and not at.metric, "pages must not show before sign-in"
    _sign_in(at, "a wrong token")
    assert at.error[0].value == "That token is not valid." and at.title[0].value == "Sign in"
    _sign_in(at, BOB)
    assert not at.exception, at.exception
    assert "signed in as **bob** (reviewer)" in [m.value for m in at.sidebar.markdown]
    at.switch_page("views/review_queue.py").run()
    focused = next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]
    at.button(key="accept").click().run()
    events = Catalog(ws).query("SELECT reviewer, action, role FROM reviews WHERE sample_id = ?",
                               [focused]).to_pylist()
    assert events == [{"reviewer": "bob", "action": "accept", "role": "reviewer"}]
    at.button(key="sign_out").click().run()
    assert at.title[0].value == "Sign in"


def test_a_token_in_the_address_signs_in_and_leaves_the_address(ws, tokens, monkeypatch):
    at = _app(ws, monkeypatch, **{ENV_AUTH_TOKENS: str(tokens)})
    at.query_params["token"] = ALICE
    at.run()
    assert not at.exception, at.exception
    assert "signed in as **alice** (admin)" in [m.value for m in at.sidebar.markdown]
    assert "token" not in at.query_params
    bad = _app(ws, monkeypatch, **{ENV_AUTH_TOKENS: str(tokens)})
    bad.query_params["token"] = "guess"
    bad.run()
    assert bad.title[0].value == "Sign in" and bad.error[0].value == "That token is not valid."


def test_without_the_proxy_header_nobody_is_signed_in(ws, monkeypatch):
    at = _app(ws, monkeypatch, **{ENV_AUTH_HEADER: "X-Forwarded-User"}).run()
    assert at.title[0].value == "Sign in"
    assert "did not name a reviewer in the X-Forwarded-User header" in at.error[0].value


def test_reviewers_cannot_compact_retrain_or_route_from_the_app_and_admins_can(ws, tokens, monkeypatch):
    log = ReviewLog(ws, "someone")
    log.accept("x")
    log.close()
    at = _app(ws, monkeypatch, **{ENV_AUTH_TOKENS: str(tokens)}).run()
    _sign_in(at, BOB)
    at.switch_page("views/engine.py").run()
    assert not [b for b in at.button if b.key in ("engine_train", "engine_route", "compact_log")]
    assert "Training, routing and compacting the review log are for admins." in [c.value for c in at.caption]
    at.switch_page("views/review_queue.py").run()
    at.selectbox(key="q_kind").set_value("flagged").run()
    at.button(key="engine_next").click().run()  # the reviewer's way to the next samples never retrains
    assert "only admins retrain: showing the engine's next samples" in [c.value for c in at.sidebar.caption]

    admin = _app(ws, monkeypatch, **{ENV_AUTH_TOKENS: str(tokens)}).run()
    _sign_in(admin, ALICE)
    admin.switch_page("views/engine.py").run()
    admin.button(key="compact_log").click().run()
    assert any(c.value.startswith("compacted 1 event(s)") for c in admin.caption)
    assert [p.name for p in ws.parquet_files("reviews")] == ["00000.parquet"]
    admin.button(key="engine_route").click().run()  # allowed: the engine itself says why it cannot yet
    assert any("no engine model yet" in c.value for c in admin.caption)
    admin.switch_page("views/review_queue.py").run()
    admin.selectbox(key="q_kind").set_value("flagged").run()
    admin.button(key="engine_next").click().run()
    assert "no retraining due yet: showing the engine's next samples" in [c.value for c in admin.sidebar.caption]
