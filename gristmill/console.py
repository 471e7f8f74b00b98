"""Terminal output shared by every command: one rich Console and the placeholder-model warning."""
from rich.console import Console
from rich.panel import Panel

from curation.placeholders import placeholder_scorers

console = Console(highlight=False)


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
