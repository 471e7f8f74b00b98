"""Terminal output shared by every command: one rich Console and the placeholder-model warning."""
from rich.console import Console
from rich.panel import Panel

console = Console(highlight=False)

PLACEHOLDER_MARK = "PLACEHOLDER"


def placeholder_scorers(catalog) -> list[str]:
    """Scorer views holding any score computed with random (placeholder) weights."""
    found = []
    for view, columns in catalog.views().items():
        if "model_id" in columns and view != "embeddings":
            n = catalog.query(f'SELECT count(*) AS n FROM "{view}" WHERE model_id LIKE ?', [f"%{PLACEHOLDER_MARK}%"])
            if n.column("n")[0].as_py():
                found.append(view)
    return found


def warn_placeholders(catalog) -> None:
    """Print a loud banner when model scores in the workspace come from random weights."""
    found = placeholder_scorers(catalog)
    if found:
        console.print(
            Panel(
                f"Model scores in {', '.join(found)} are PLACEHOLDERS computed with random weights "
                "(--allow-random-weights). They carry no meaning; provide real weights to use them.",
                title="WARNING: placeholder model scores",
                style="bold red",
            )
        )
