"""The response hook hands each job's own response to its callback, as soon as the headers are in."""

from __future__ import annotations

import threading

import httpx

from multillm.common.response_watch import on_response, watching


def test_headers_reach_the_callback_before_the_streamed_body_is_read():
    seen: list[tuple[str, bool]] = []
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"x-ratelimit-remaining-requests": "7"}, content=iter([b"data: 1\n\n"])))
    with httpx.Client(transport=transport, event_hooks={"response": [on_response]}) as client, \
            watching(lambda r: seen.append((r.headers["x-ratelimit-remaining-requests"], r.is_stream_consumed))), \
            client.stream("POST", "http://provider/v1/chat/completions") as response:
        response.read()
    assert seen == [("7", False)]


def test_each_thread_sees_only_its_own_responses():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"x-job": request.headers["x-job"]}))
    client = httpx.Client(transport=transport, event_hooks={"response": [on_response]})
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def job(name: str) -> None:
        got[name] = []
        with watching(lambda r: got[name].append(r.headers["x-job"])):
            barrier.wait()
            for _ in range(20):
                client.get("http://provider/", headers={"x-job": name})

    threads = [threading.Thread(target=job, args=(f"j{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.get("http://provider/", headers={"x-job": "outside"})  # no job watching: nobody is called
    assert got == {f"j{i}": [f"j{i}"] * 20 for i in range(4)}
