"""A job's stream: the message schema (`schema.py`) and the protocol's writer and reader (`protocol.py`).

Channel `multillm:stream:{id}`, replay log `multillm:log:{id}` (README, "Stream protocol").
"""

from multillm.common.stream.protocol import (
    ALREADY_FINISHED,
    ALREADY_PUBLISHED,
    LEASE_LOST,
    PUBLISHED_CANCELLED,
    Batcher,
    Publisher,
    Sequencer,
)
from multillm.common.stream.schema import TERMINAL, MessageType, StreamMessage

__all__ = [
    "ALREADY_FINISHED",
    "ALREADY_PUBLISHED",
    "LEASE_LOST",
    "PUBLISHED_CANCELLED",
    "TERMINAL",
    "Batcher",
    "MessageType",
    "Publisher",
    "Sequencer",
    "StreamMessage",
]
