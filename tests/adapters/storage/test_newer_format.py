"""Signs of werf 1.2 / 2.x content in a storage read as werf v1.1's (SPEC §13.2, §13.4)."""

from __future__ import annotations

import pytest

from adapters.storage import newer_format

V11_STAGE = {"werf": "acme", "werf-stage-signature": "a" * 56, "werf-cache-version": "1.1", "werf-image": "false"}


@pytest.mark.parametrize(
    ("tag", "found"),
    [
        ("meta-5c1e1f8a_" + "c" * 40 + "_" + "d" * 56 + "-1700000000000", True),
        ("custom-tag-meta-v1.0.0", True),
        ("import-metadata-" + "e" * 56, True),
        ("meta-only_two", False),  # not three `_` fields: a foreign tag
        ("metadata-x_y_z", False),
        ("image-metadata-by-commit-app-" + "c" * 40, False),  # v1.1's own record
        ("managed-image-app", False),  # the same in both formats
        ("cleanup", False),  # a foreign tag by name alone
        ("custom-tag-meta-", False),
    ],
)
def test_service_records_of_werf_1_2_are_recognised_by_tag(tag, found):
    assert (newer_format.record_sign(tag) is not None) is found


@pytest.mark.parametrize(
    ("labels", "found"),
    [
        (V11_STAGE, False),
        ({**V11_STAGE, "werf": "beta"}, False),  # another project's v1.1 stage: kept, not refused
        ({**V11_STAGE, "werf-cache-version": "1.2"}, True),
        ({k: v for k, v in V11_STAGE.items() if k != "werf-stage-signature"}, True),
        ({**V11_STAGE, "werf-stage-content-digest": "f" * 56}, True),
        ({**V11_STAGE, "werf.io/parent-stage-id": "x"}, True),
        ({"org.opencontainers.image.title": "hand-pushed"}, False),  # no werf label at all
        ({}, False),
    ],
)
def test_stages_werf_1_2_built_are_recognised_by_their_labels(labels, found):
    assert (newer_format.stage_sign(labels) is not None) is found


def test_an_images_repo_tag_counts_only_labels_werf_1_2_writes():
    assert newer_format.image_sign({"werf": "acme", "werf-stage-content-digest": "f" * 56}) is not None
    assert newer_format.image_sign({**V11_STAGE, "werf-image": "true"}) is None  # a v1.1 end image
    assert newer_format.image_sign({"werf-stage-content-digest": "f" * 56}) is None  # not werf's
    assert newer_format.image_sign({"maintainer": "x"}) is None
