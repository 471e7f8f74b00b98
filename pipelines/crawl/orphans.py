"""Child processes that end with the driver: a forked helper must never outlive a killed crawl."""
import multiprocessing
import multiprocessing.connection
import os
import threading


def exit_with_parent() -> None:
    """End this (child) process as soon as its parent process is gone, however it died."""
    parent = multiprocessing.parent_process()

    def watch():
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)  # like a SIGKILL: what it left uncommitted is removed by the next run

    threading.Thread(target=watch, name="crawl-driver-watch", daemon=True).start()
