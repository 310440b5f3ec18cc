"""A deployment's rule file that the schema refuses stops the load, naming the file and the
field at fault (never the value), like every other file the platform reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from careloop.errors import InvalidInput
from careloop.feedback.ruleset import load_rules

RULE = """\
rules:
  - id: local-weight-gain
    kind: threshold
    title: Weight up
    severity: {severity}
    evidence: [local protocol]
    conditions:
      - {{measure: weight_gain_kg, op: ">=", value: {value}}}
"""


def test_a_rule_file_the_schema_refuses_is_named_with_the_field_at_fault(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(
        RULE.format(severity="sometimes", value="heavy"), encoding="utf-8"
    )

    with pytest.raises(InvalidInput) as refused:
        load_rules([tmp_path])

    assert str(refused.value) == (
        "local.yaml: rules.0.threshold.severity: Input should be 'urgent', 'high' or 'routine'"
        " (and 1 more)"
    )
    assert refused.value.field == "rules.0.threshold.severity"


def test_a_rule_file_the_schema_accepts_adds_its_rule(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(RULE.format(severity="high", value=2), encoding="utf-8")

    assert "local-weight-gain" in [rule.id for rule in load_rules([tmp_path])]
