"""The local system's files and printed URLs: the Redis password stays in files only their owner
reads, and never reaches what is printed."""

from __future__ import annotations

import stat

import kombu.exceptions
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from multillm.common.settings import get_settings
from multillm.producers.cli.exits import redis_problem
from multillm.producers.cli.main import app
from multillm.producers.local.embedded import (
    masked_url,
    new_password,
    spawn,
    start_redis,
    state_path,
    stop,
    write_state,
)

SAFE = st.text(alphabet=st.characters(categories=["L", "N"], max_codepoint=127), min_size=1, max_size=40)


@given(password=SAFE, user=st.sampled_from(["", "default", "app"]), port=st.integers(1, 65535), db=st.integers(0, 15))
def test_a_masked_url_keeps_everything_but_the_password(password, user, port, db):
    url = f"redis://{user}:{password}@127.0.0.1:{port}/{db}"
    masked = masked_url(url)
    assert masked == f"redis://{user}:****@127.0.0.1:{port}/{db}"
    assert f":{password}@" not in masked


@given(port=st.integers(1, 65535))
def test_a_url_without_a_password_is_printed_as_it_is(port):
    for url in (f"redis://127.0.0.1:{port}/0", f"rediss://cache.example:{port}/2", "unix:///run/redis.sock"):
        assert masked_url(url) == url


@pytest.fixture
def home_in(tmp_path, monkeypatch):
    """MULTILLM_HOME in a temporary directory, for settings read afresh (and afresh again after)."""
    monkeypatch.setenv("MULTILLM_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_the_state_file_is_0600_even_over_an_older_readable_one(tmp_path, home_in):
    assert state_path() == home_in / "system.json"
    (tmp_path / "home").mkdir()
    state = tmp_path / "home" / "system.json"
    state.write_text("{}")
    state.chmod(0o644)
    write_state({"pid": 1, "redis_url": f"redis://:{new_password()}@127.0.0.1:1/0"})
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert not list((tmp_path / "home").glob("*.tmp"))


def test_log_files_are_created_0600_and_an_older_readable_one_is_narrowed(tmp_path):
    old = tmp_path / "old.log"
    old.write_text("earlier\n")
    old.chmod(0o644)
    for log in (tmp_path / "new.log", old):
        process = spawn(["true"], log=log)
        process.wait()
        stop([process])
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert old.read_text() == "earlier\n"  # appended to, not truncated


def test_redis_failures_read_as_one_line_naming_the_cause():
    refused = redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
    refused.args = (f"Command # 1 (SADD _kombu.binding.q q) of pipeline caused error: {refused.args[0]}",)
    try:
        raise kombu.exceptions.OperationalError(str(refused)) from refused
    except kombu.exceptions.OperationalError as wrapped:
        assert redis_problem(wrapped) == "Redis refused the command: command not allowed when used memory > 'maxmemory'."
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
    assert redis_problem(down) == "Redis unreachable: Error 111 connecting to 127.0.0.1:6399. Connection refused."


def test_the_redis_password_goes_in_on_stdin_never_on_the_command_line():
    password = new_password()
    process, url = start_redis(password=password)
    try:
        assert password not in " ".join(process.args)
        assert redis.Redis.from_url(url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(url.replace(password, "wrong")).ping()
    finally:
        stop([process])


def test_up_refuses_a_maxmemory_that_is_not_a_size_naming_the_option():
    done = CliRunner().invoke(app, ["up", "--redis-maxmemory", "lots"])
    assert done.exit_code == 2
    assert "--redis-maxmemory: 'lots' is not a size such as 512mb or 2gb" in done.output
