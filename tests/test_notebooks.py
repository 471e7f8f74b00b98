"""The notebooks under notebooks/: stored without outputs, and each runs top to bottom on CPU.

Each notebook is executed with nbclient on the `python3` kernel, in a temporary working directory (the
notebooks themselves write only under tempfile.mkdtemp()). The kernel must be this interpreter (the
venv's python): jupyter_client runs a kernelspec whose argv[0] is plain `python` with sys.executable, and
the last check of each run compares the kernel's sys.executable with ours.
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {"01_quickstart.ipynb", "02_tuning_thresholds.ipynb", "03_data_engine.ipynb", "04_video_clips.ipynb"}
CELL_TIMEOUT_S = 300
NOTEBOOK_BUDGET_S = 180  # each notebook must run well under 3 minutes on 2 CPU cores


def test_the_notebooks_are_all_there():
    assert EXPECTED <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{name}: cells {dirty} have outputs or execution counts; strip them before committing"
    assert any(c.cell_type == "markdown" for c in nb.cells)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def _python3_kernel() -> str:
    """The `python3` kernelspec, installed into this environment (sys.prefix) when missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                       check=True, capture_output=True)
    return "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(nb, kernel_name=_python3_kernel(), timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error
    elapsed = time.perf_counter() - started
    kernel_python = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), \
        f"the python3 kernel ran {kernel_python}, not this environment's {sys.executable}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert elapsed < NOTEBOOK_BUDGET_S, f"{name} took {elapsed:.0f}s (budget {NOTEBOOK_BUDGET_S}s)"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert not leftovers, f"{name} wrote into its working directory: {leftovers}; use a temporary directory"
