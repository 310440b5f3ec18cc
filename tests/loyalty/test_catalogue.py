"""The compliance office's rules are checked when the catalogue is read."""

from __future__ import annotations

import copy

import pytest
from loyalty_fixtures import catalogue_data

from careloop.errors import InvalidInput
from careloop.loyalty.catalogue import load_catalogue, parse_catalogue


def test_the_shipped_sample_passes_its_own_rules() -> None:
    shipped = load_catalogue()
    assert shipped.compliance.annual_cap_cents == 7500
    assert {r.id for r in shipped.rewards} >= {"preventive-visit", "referral"}


def test_a_reward_tied_to_a_disallowed_billable_service_is_refused() -> None:
    data = catalogue_data()
    data["rewards"][0]["services"].append("http://www.ama-assn.org/go/cpt|99213")
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "rewards.0.services"
    assert "99213" in str(caught.value)


def test_caps_are_required() -> None:
    data = catalogue_data()
    del data["compliance"]["annual_cap_cents"]
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "compliance.annual_cap_cents"

    data = catalogue_data()
    del data["rewards"][1]["max_per_year"]
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "rewards.1.max_per_year"

    missing = copy.deepcopy(catalogue_data())
    del missing["compliance"]
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(missing, source="rewards.yaml")
    assert caught.value.field == "compliance"


def test_a_refused_file_names_its_first_fault_and_counts_the_others() -> None:
    data = catalogue_data()
    del data["compliance"]["annual_cap_cents"]
    del data["rewards"][1]["max_per_year"]
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "compliance.annual_cap_cents"
    assert str(caught.value).startswith("rewards.yaml: compliance.annual_cap_cents: ")
    assert str(caught.value).endswith(" (and 1 more)")


def test_a_reward_worth_more_than_the_per_reward_cap_is_refused() -> None:
    data = catalogue_data()
    data["rewards"][2]["value_cents"] = 1600
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "rewards.2.value_cents"


def test_rewards_for_completed_care_must_name_their_services() -> None:
    data = catalogue_data()
    data["rewards"][0]["services"] = []
    with pytest.raises(InvalidInput) as caught:
        parse_catalogue(data, source="rewards.yaml")
    assert caught.value.field == "rewards.0.services"
