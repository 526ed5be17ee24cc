"""What callers use: submit chat jobs, stream them, wait for results.

    client.py    MultiLLM: validate, route and submit jobs (the Python API)
    handle.py    JobHandle: stream a job's messages once and in order, wait for its result, cancel it
    batch/       batch evaluation (`multillm batch`): input, run, judge, output, report, plots
    cli/         the `multillm` command, one module per command group
    local/       the local system `multillm up` starts: embedded Redis, simulator, workers, beat
    simulator/   a server speaking all seven providers' wire formats (tests, benchmarks, demos)
    bench/       benchmarks against peers, chaos and the soak (`multillm bench`)
"""

from multillm.common.stream import Sequencer
from multillm.producers.client import MultiLLM, validate_job
from multillm.producers.handle import JobHandle, JobTimeout

__all__ = ["JobHandle", "JobTimeout", "MultiLLM", "Sequencer", "validate_job"]
