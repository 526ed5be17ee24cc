"""What callers use: submit chat jobs, stream them, wait for results."""

from multillm.producers.client import MultiLLM, validate_job
from multillm.producers.handle import JobHandle, JobTimeout, Sequencer

__all__ = ["JobHandle", "JobTimeout", "MultiLLM", "Sequencer", "validate_job"]
