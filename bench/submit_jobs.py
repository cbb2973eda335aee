"""A submitter of `describe-instances` jobs in a process of its own (benchmark 7).

Run as `python -m bench.submit_jobs CONFIG BROKER`, with `PYTHONPATH` naming the tree
whose `ec2_connector` submits (today's, or an older commit's exported `src/`): each
worker is fed by its own code's submitter, so an older worker never has to read a job
record or message the current code writes. It imports nothing else of the project.

It prints `ready` once its client is up, then reads counts on stdin: for each, it submits
that many jobs, waits for all of them and prints `done <jobs/s> <failures>`.
"""

from __future__ import annotations

import sys
import time


def main(config: str, broker: str) -> int:
    from ec2_connector import Call

    with Call(config=config, broker=broker) as call:
        builder = call.connector("aws-ec2").set("action", "describe-instances")
        print("ready", flush=True)
        for line in sys.stdin:
            count = int(line)
            started = time.perf_counter()
            jobs = [builder.async_() for _ in range(count)]
            failed = sum(job.wait(600_000).exitcode != 0 for job in jobs)
            print(f"done {count / (time.perf_counter() - started):.1f} {failed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
