"""The Celery app reads settings when its configuration is first needed, not at import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multillm.common import constants
from multillm.common.providers import SPECS
from multillm.common.settings import load_settings
from multillm.workers.app import celery_config, chat_task_name

MALFORMED = {"REDIS_URL": "http://not-redis", "OPENAI_CONCURRENCY": "lots"}
CHECK_LAZY = """
import multillm.workers
from multillm.common.errors import ConfigurationError
from multillm.workers import app
assert not app.configured
try:
    app.conf.broker_url
except ConfigurationError as exc:
    print(exc)
"""
CHECK_BOUND = """
from multillm.workers import CHAT_TASKS, app
app.finalize()
print(CHAT_TASKS["openai"].rate_limit, CHAT_TASKS["google"].rate_limit, app.conf.beat_schedule["health"]["schedule"],
      app.conf.broker_url)
"""


def run(code: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MULTILLM_")}
    return subprocess.run(code, env={**base, **env}, capture_output=True, text=True, timeout=120, cwd="/")


def test_importing_workers_with_malformed_settings_does_not_raise():
    done = run([sys.executable, "-c", CHECK_LAZY], MALFORMED)
    assert done.returncode == 0, done.stderr
    assert "REDIS_URL" in done.stdout and "OPENAI_CONCURRENCY" in done.stdout


@pytest.mark.parametrize("command", [["worker", "-Q", "multillm.openai"], ["beat"]])
def test_celery_command_line_reports_malformed_settings_in_one_line(command):
    done = run([sys.executable, "-m", "celery", "-A", "multillm.workers", *command], MALFORMED)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: invalid settings: REDIS_URL: Value error, must start with redis://, rediss:// or unix://; "
        "OPENAI_CONCURRENCY: Input should be a valid integer, unable to parse string as an integer"]


def test_settings_reach_the_tasks_and_the_beat_when_the_app_is_configured():
    done = run([sys.executable, "-c", CHECK_BOUND], {"OPENAI_TASK_RATE_LIMIT": "10/s", "MULTILLM_HEALTH_INTERVAL_S": "2.5",
                                                     "REDIS_URL": "redis://127.0.0.1:6390/3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10/s", "None", "2.5", "redis://127.0.0.1:6390/3"]


def test_celery_configuration_follows_the_settings():
    config = celery_config(load_settings({"GROK_TASK_RATE_LIMIT": "600/m", "MULTILLM_TASK_EVENTS": "false"}))
    assert config["task_annotations"] == {chat_task_name("grok"): {"rate_limit": "600/m"}}
    assert config["broker_url"] == "redis://127.0.0.1:6379/0"
    assert config["worker_send_task_events"] is False and config["task_send_sent_event"] is False
    assert {q.name for q in config["task_queues"]} == {constants.queue(p) for p in SPECS}
    assert config["task_routes"]["multillm.health"] == {"queue": constants.HEALTH_QUEUE}
    assert all(config["task_routes"][chat_task_name(p)] == {"queue": constants.queue(p)} for p in SPECS)
    assert config["beat_schedule"]["health"]["schedule"] == 15.0
