"""Fixtures shared by the review tests."""
import uuid

import pytest


@pytest.fixture
def dataset_name():
    """A FiftyOne dataset name no other test uses; the dataset is deleted afterwards."""
    fo = pytest.importorskip("fiftyone")
    name = f"gristmill-test-{uuid.uuid4().hex[:8]}"
    yield name
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
