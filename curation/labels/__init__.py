"""The label data engine: vocabularies, zero-shot proposals, a probe that learns from human labels.

    vocabulary   label fields in labels/vocabulary.yaml, validated (vocabulary.py)
    human        label values in the review log, read back per field (human.py)
    zeroshot     CLIP prompt embeddings x stored image embeddings, calibrated (text.py, zeroshot.py)
    probe        logistic regression on embeddings, versioned, per-class proven thresholds (probe.py, store.py)
    proposals    LABEL_PROPOSALS files, the catalog's `label_proposals` view (proposals.py)
    audit        audits of automatic labels and the stop rule (audit.py)
    queues       what humans label next: uncertain, rare first, disagreement, likely wrong (queues.py)
`curation.labels.runs` drives them, `curation.labels.report` reports; `gristmill labels` is the command line.
"""
