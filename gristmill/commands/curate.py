"""`gristmill curate WORKSPACE RECIPE`: apply a recipe, write decisions, print and save the funnel."""
import argparse

from curation.catalog import Catalog
from curation.curate import builtin_recipes, curate, load_recipe
from curation.errors import GristmillError
from curation.funnel import table
from curation.workspace import Workspace
from gristmill.console import console, warn_placeholders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", nargs="?", help="workspace folder")
    parser.add_argument("recipe", nargs="?", help="built-in recipe name (see --list) or path to a recipe YAML")
    parser.add_argument("--list", action="store_true", help="list the built-in recipes and exit")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, path in builtin_recipes().items():
            recipe = load_recipe(path)
            console.print(f"[bold]{name}[/] ({len(recipe.steps)} steps): {recipe.description.strip()}")
        return 0
    if not args.workspace or not args.recipe:
        raise GristmillError("give a workspace and a recipe, e.g. gristmill curate ws/ datacomp-basic "
                             "(gristmill curate --list shows the built-ins)")
    ws = Workspace.open(args.workspace)
    recipe = load_recipe(args.recipe)
    with console.status(f"curating with {recipe.name} ({len(recipe.steps)} steps)"):
        result = curate(ws, recipe)
    console.print(table(result.funnel))
    f = result.funnel
    console.print(f"kept [bold]{f.kept}[/] of {f.rows_in} samples; decisions: {result.decisions_path}")
    console.print(f"funnel and histograms: {result.funnel_dir}")
    warn_placeholders(Catalog(ws))
    return 0
