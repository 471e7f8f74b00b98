"""The label columns of a release: each label field's final label, where it came from, and which model made it.

For every field of the workspace's label vocabulary (`labels/vocabulary.yaml`, curation.labels) a release has
    label_<field>         the final label as class indices into the field's classes (vocabulary order): an int
                          for a single-label field, a sorted list of ints for a multi-label one; Hugging Face
                          `ClassLabel` (or `List(ClassLabel)`) features name the classes
    label_<field>_source  'human', 'automatic', or null (no label)
    label_<field>_model   the probe version that labelled automatically (labels/models/<field>/vNNNN), else null
The final label is the human one when a reviewer labelled the sample (the latest label event not cleared;
"none of these" is a human label: null index, or an empty list), else the probe's automatic label when the
probe version that proposed it has not been stopped by its audits and was trained for the field as it is
defined now (the proposals' vocabulary digest), else none. Zero-shot proposals are never labels.
"""
from dataclasses import dataclass

import pyarrow as pa

from curation.catalog import Catalog
from curation.labels import audit, store
from curation.labels.human import read_labels
from curation.labels.proposals import proposals_path
from curation.labels.vocabulary import LabelField, load_vocabulary, vocabulary_path
from curation.sql import literal_list, quote_identifier, quote_literal

PREFIX = "label_"
SOURCES = ("human", "automatic")


@dataclass(frozen=True)
class LabelColumns:
    """One label field's release columns and the temporary table (sample_id, label, source, model) behind them."""

    field: str
    classes: list[str]
    multi: bool
    vocabulary: str
    table: str

    @property
    def column(self) -> str:
        return PREFIX + self.field

    def select(self) -> list[str]:
        """The SELECT expressions of the three columns, over the table joined as its own name."""
        t = quote_identifier(self.table)
        return [f"{t}.label AS {quote_identifier(self.column)}",
                f"{t}.source AS {quote_identifier(self.column + '_source')}",
                f"{t}.model AS {quote_identifier(self.column + '_model')}"]

    def join(self) -> str:
        t = quote_identifier(self.table)
        return f"LEFT JOIN {t} ON {t}.sample_id = s.sample_id"

    def describe(self, catalog: Catalog) -> dict:
        """The manifest's entry: classes, kind, vocabulary digest and how many labels each source gave."""
        counts = dict(catalog.con.execute(
            f"SELECT source, count(*) FROM {quote_identifier(self.table)} GROUP BY 1 ORDER BY 1").fetchall())
        return {"classes": self.classes, "multi": self.multi, "vocabulary": self.vocabulary,
                "labels": {source: counts.get(source, 0) for source in SOURCES}}


def prepare_labels(catalog: Catalog) -> list[LabelColumns]:
    """Build each label field's final-label table in the catalog's connection; none without a vocabulary."""
    ws = catalog.workspace
    if not vocabulary_path(ws).is_file():
        return []
    return [_prepare(catalog, label_field, f"_release_labels_{i}")
            for i, label_field in enumerate(load_vocabulary(ws).fields)]


def _prepare(catalog: Catalog, label_field: LabelField, table: str) -> LabelColumns:
    human = read_labels(catalog, label_field)
    con = catalog.con
    con.register("_human_labels", pa.table({
        "sample_id": pa.array(human.ids, pa.string()),
        "names": pa.array([sorted(c) for c in human.classes], pa.list_(pa.string()))}))
    classes = literal_list(label_field.class_names)
    index = f"list_position([{classes}], n) - 1"
    label = (f"CAST(list_sort(list_transform(names, lambda n: {index})) AS BIGINT[])" if label_field.multi
             else f"CAST(CASE WHEN len(names) = 1 THEN list_position([{classes}], names[1]) - 1 END AS BIGINT)")
    automatic = _automatic_sql(catalog, label_field)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {quote_identifier(table)} AS
        SELECT sample_id, {label} AS label, source, model FROM (
            SELECT sample_id, names, 'human' AS source, CAST(NULL AS VARCHAR) AS model FROM _human_labels
            {f"UNION ALL SELECT sample_id, names, 'automatic', model FROM ({automatic}) "
             "WHERE sample_id NOT IN (SELECT sample_id FROM _human_labels)" if automatic else ""})""")
    con.unregister("_human_labels")
    return LabelColumns(label_field.name, label_field.class_names, label_field.multi, label_field.digest(), table)


def _automatic_sql(catalog: Catalog, label_field: LabelField) -> str | None:
    """SELECT sample_id, names, model of the probe's automatic labels that still stand, or None.

    Which versions are stopped comes from their folders (labels/models/<field>/vNNNN/stopped.json), so the
    proposals file is read once, by the query that builds the field's table."""
    ws = catalog.workspace
    path = proposals_path(ws, label_field.name, "probe")
    if not path.is_file():
        return None
    stopped = [v for v in store.versions(ws, label_field.name) if audit.is_stopped(ws, label_field.name, v)]
    return (f"SELECT sample_id, list_sort(automatic) AS names, model_version AS model "
            f"FROM read_parquet({quote_literal(path)}) WHERE len(automatic) > 0 "
            f"AND vocabulary = {quote_literal(label_field.digest())}"
            + (f" AND model_version NOT IN ({literal_list(stopped)})" if stopped else ""))


def class_label_features(labels: list[LabelColumns]) -> dict[str, dict]:
    """The Hugging Face feature of each label column: ClassLabel, or a List of ClassLabel for multi-label."""
    out = {}
    for columns in labels:
        class_label = {"names": columns.classes, "_type": "ClassLabel"}
        out[columns.column] = {"feature": class_label, "_type": "List"} if columns.multi else class_label
    return out
