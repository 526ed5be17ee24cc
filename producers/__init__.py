"""What callers use: submit chat jobs, stream them, wait for results."""

from .client import MultiLLM, validate_job
from .handle import JobHandle, JobTimeout, Sequencer

__all__ = ["JobHandle", "JobTimeout", "MultiLLM", "Sequencer", "validate_job"]
