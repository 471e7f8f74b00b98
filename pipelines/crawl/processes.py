"""Local multi-process crawls: one in-process DirectRunner pipeline per process, each over its own shards.

With `--direct-running-mode multi_processing` the driver does not hand the pipeline to Beam's multi-process
mode (SDK worker processes that import everything again, read the list in one worker and schedule every fused
stage through the runner). It splits the shards still to crawl into disjoint sets (`split_shards`) and forks one
worker process per set; each runs the same Beam pipeline in memory over its own shards (`run_pipeline`), reading
only their plans, so a shard holds the same samples and bytes as in a single-process crawl, and resuming works as
on any runner.

Workers are forked where the OS can (they inherit the driver's imported modules, so they start at once) and
spawned elsewhere. A worker exits as soon as the driver dies (even by SIGKILL), so a killed crawl leaves no
worker behind to race the re-run; a worker's failure stops the others and is raised in the driver.
"""
import multiprocessing
import multiprocessing.connection
import pickle
import traceback
from dataclasses import dataclass, replace

from pipelines.crawl.orphans import exit_with_parent
from pipelines.crawl.pipeline import CrawlJob, pipeline_options, run_pipeline

_CONTEXT = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def split_shards(shards: list[int], processes: int) -> list[frozenset[int]]:
    """Deal `shards` round-robin into at most `processes` disjoint, non-empty sets of near-equal size."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    ordered = sorted(shards)
    return [frozenset(ordered[k::processes]) for k in range(min(processes, len(ordered)))]


class LocalProcesses:
    """Worker processes crawling disjoint shard sets of one job; use as a context manager around `wait`."""

    def __init__(self, job: CrawlJob, shard_sets: list[frozenset[int]]):
        in_memory = job.config.model_copy(update={"direct_running_mode": "in_memory", "direct_num_workers": 1})
        pipeline_options(in_memory)  # raises on unknown options, before any worker starts
        self.jobs = [replace(job, config=in_memory, shards=tuple(sorted(shards))) for shards in shard_sets]
        self.shard_sets = shard_sets
        self._running: list[_Worker] = []

    def __enter__(self) -> "LocalProcesses":
        for index, (shards, job) in enumerate(zip(self.shard_sets, self.jobs)):
            receive, send = _CONTEXT.Pipe(duplex=False)
            proc = _CONTEXT.Process(target=_work, args=(job, send), name=f"crawl-worker-{index}", daemon=True)
            proc.start()
            send.close()  # before the next fork, so the pipe ends when this worker does
            self._running.append(_Worker(index, shards, proc, receive))
        return self

    def __exit__(self, *exc) -> None:
        for worker in self._running:
            worker.proc.terminate()
        for worker in self._running:
            worker.proc.join()
            worker.receive.close()
        self._running.clear()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s; True once every worker has finished; raises the first worker failure."""
        handles = [w.proc.sentinel for w in self._running] + [w.receive for w in self._running if not w.heard]
        if handles:
            multiprocessing.connection.wait(handles, timeout)
        for worker in list(self._running):
            worker.listen()
            if worker.report is None and worker.proc.is_alive():
                continue
            worker.proc.join()
            worker.receive.close()
            self._running.remove(worker)
            if worker.report is not None or worker.proc.exitcode != 0:
                raise worker.failure()
        return not self._running


@dataclass
class _Worker:
    """One worker process, its shards and the pipe on which it reports a failure (it closes it when done)."""

    index: int
    shards: frozenset[int]
    proc: multiprocessing.process.BaseProcess
    receive: multiprocessing.connection.Connection
    heard: bool = False  # the pipe delivered its report or ended
    report: tuple[BaseException | None, str] | None = None

    def listen(self) -> None:
        if self.heard or not self.receive.poll():
            return
        self.heard = True
        try:
            self.report = self.receive.recv()
        except EOFError:  # closed without a report: the worker finished
            pass

    def failure(self) -> BaseException:
        where = f"crawl worker {self.index} (shards {', '.join(map(str, sorted(self.shards)))})"
        if self.report is None:
            return RuntimeError(f"{where} exited with code {self.proc.exitcode} without reporting an error")
        exc, text = self.report
        if exc is None:
            return RuntimeError(f"{where} failed:\n{text}")
        exc.add_note(f"raised in {where}:\n{text}")
        return exc


def _work(job: CrawlJob, send: multiprocessing.connection.Connection) -> None:
    """Worker process: crawl the job's shards; send nothing on success, (exception or None, traceback) on failure."""
    exit_with_parent()
    try:
        run_pipeline(job)
    except BaseException as exc:  # reported to the driver, which raises it
        send.send(_portable(exc))
        raise SystemExit(1) from None
    finally:
        send.close()


def _portable(exc: BaseException) -> tuple[BaseException | None, str]:
    """The exception (when it survives pickling) and its traceback, for the driver."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None, text
    return exc, text

