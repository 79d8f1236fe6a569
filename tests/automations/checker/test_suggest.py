"""Did-you-mean suggestions: edit distance, ignoring case, underscores and hyphens."""

from __future__ import annotations

import pytest

from automations.checker.suggest import closest, did_you_mean, edit_distance, normalize

CUSTOMER_FIELDS = ("email", "phone", "first_name", "last_name", "lifecycle_stage", "tags")


@pytest.mark.parametrize(
    ("_case", "name", "expected"),
    [
        ("camel case and a swap", "lifecycelStage", "lifecycle_stage"),
        ("camel case only", "lifecycleStage", "lifecycle_stage"),
        ("upper case", "EMAIL", "email"),
        ("hyphen for underscore", "first-name", "first_name"),
        ("one letter missing", "tag", "tags"),
        ("one letter wrong", "phome", "phone"),
        ("nothing close", "zzzzzz", None),
        ("short name, far", "qty", None),
        ("empty", "", None),
    ],
)
def test_closest_finds_the_meant_name(_case, name, expected):
    # given / when
    result = closest(name, CUSTOMER_FIELDS)

    # then
    assert result == expected


def test_closest_never_suggests_the_name_itself():
    # given / when
    result = closest("email", ["email"])

    # then
    assert result is None


def test_closest_keeps_candidate_order_on_ties():
    # given / when
    result = closest("cat", ["bat", "hat"])

    # then
    assert result == "bat"


@pytest.mark.parametrize(
    ("_case", "a", "b", "expected"),
    [
        ("equal", "abc", "abc", 0),
        ("insertion", "abc", "abxc", 1),
        ("deletion", "abc", "ac", 1),
        ("substitution", "abc", "abd", 1),
        ("swap of neighbours", "lifecycel", "lifecycle", 1),
        ("empty", "", "abc", 3),
    ],
)
def test_edit_distance(_case, a, b, expected):
    # given / when / then
    assert edit_distance(a, b) == expected


def test_normalize_folds_case_and_separators():
    # given / when / then
    assert normalize("Lifecycle_Stage-x y") == "lifecyclestagexy"


def test_did_you_mean_phrases_the_hint():
    # given / when / then
    assert did_you_mean("lifecycelStage", CUSTOMER_FIELDS) == "Did you mean lifecycle_stage?"
    assert did_you_mean("zzzzzz", CUSTOMER_FIELDS) == ""
