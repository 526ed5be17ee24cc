"""Gateway log lines: the request id on every line written while serving, tenant keys masked."""

from __future__ import annotations

import io
import json
import logging

from multillm.common.logs import JobContextFilter, JsonFormatter, SecretFilter, request_context
from multillm.common.tenants import new_key


def test_lines_logged_while_serving_carry_the_request_id_and_no_tenant_key():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(SecretFilter())
    handler.addFilter(JobContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("multillm.test-gateway")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    key = new_key()
    try:
        with request_context("req-42"):
            logger.info("caller sent %s", key)
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["request_id"] == "req-42" and key not in out.getvalue() and "mlm_" in inside["message"]
    assert "request_id" not in outside
