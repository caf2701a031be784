"""Policy files: the sample is valid; every kind of broken file is refused precisely."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsteward.errors import NotFoundError, PolicyError
from modelsteward.policy import (
    Role,
    Severity,
    find_policy,
    load_policy,
    load_policy_dir,
    parse_policy,
    policy_json_schema,
)

SAMPLE = Path(__file__).resolve().parent.parent / "policies" / "fraud-detector.yaml"


def sample() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE.read_text())


def write(tmp_path: Path, data: Any, name: str = "fraud-detector.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_sample_policy_is_valid_and_complete() -> None:
    policy = load_policy(SAMPLE)
    assert policy.model == "fraud-detector"
    assert policy.contact(Role.GUARDIAN).may_act("ciso@example.com")
    assert not policy.contact(Role.GUARDIAN).may_act("mallory@example.com")
    assert policy.action_for(Severity.CRITICAL).kill is True
    assert policy.action_for(Severity.NONE).alert == ()
    assert policy.guard.on_unknown == "block"
    assert policy.digest is not None and len(policy.digest) == 64
    assert policy.roles.operator.pagerduty is not None
    assert policy.roles.operator.pagerduty.routing_key_env == "PD_ROUTING_KEY_FRAUD"


def test_routing_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pagerduty = load_policy(SAMPLE).roles.operator.pagerduty
    assert pagerduty is not None
    assert pagerduty.routing_key() is None
    monkeypatch.setenv("PD_ROUTING_KEY_FRAUD", "R" * 32)
    assert pagerduty.routing_key() == "R" * 32


def mutate(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

BROKEN = [
    ("risk_tier", "extreme", "risk_tier", "'minimal', 'limited' or 'high'"),
    ("risk_tier", _DELETE, "risk_tier", "is required but missing"),
    ("roles.owner.email", "not-an-email", "roles.owner.email", "email"),
    (
        "roles.operator",
        {"name": "ops", "email": "ops@example.com"},
        "roles.operator",
        "no on-call contact",
    ),
    ("monitoring.drift.critical.drift_share", 0.1, "monitoring", "critical must be the stricter"),
    (
        "monitoring.performance.critical.max_drop",
        0.01,
        "monitoring",
        "critical must be the larger drop",
    ),
    ("actions.panic", {"kill": True}, "actions.panic", "'warning' or 'critical'"),
    (
        "actions.critical.alert",
        ["operator", "ceo"],
        "actions.critical.alert[1]",
        "'owner', 'guardian' or 'operator'",
    ),
    ("actions.critical.shout", True, "actions.critical.shout", "not a known field"),
    ("guard.on_unknown", "maybe", "guard.on_unknown", "'block' or 'allow'"),
    ("guard.max_staleness_seconds", -1, "guard.max_staleness_seconds", "greater than 0"),
    ("monitoring.schedule.cron", "every day", "monitoring.schedule.cron", "five cron fields"),
    ("data_contract.columns", [], "data_contract.columns", "at least 1"),
    ("data_contract.columns.0.type", "decimal", "data_contract.columns[0].type", "'float'"),
    ("data_contract.columns.0.min", 100000, "data_contract.columns[0]", "greater than max"),
    ("data_contract.target", "amount", "data_contract", "both a feature column and the target"),
    (
        "roles.operator.pagerduty.routing_key_env",
        "R0ut1ngK3y-abc",
        "routing_key_env",
        "NAME of an environment variable",
    ),
    ("actions.critical.alert", ["operator"], "(top level)", "to include guardian"),
    ("model", "Fraud Detector!", "model", "should match pattern"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), BROKEN)
def test_broken_policy_names_file_field_and_problem(
    tmp_path: Path, path: str, value: Any, field: str, message: str
) -> None:
    policy_file = write(tmp_path, mutate(path, value))
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(policy_file)
    text = str(info.value)
    assert text.startswith(f"{policy_file}: ")
    assert field in text
    assert info.value.path == str(policy_file)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "found an empty file"),
        ("- just\n- a list\n", "found list"),
        ("model: [unclosed\n", "not valid YAML at line"),
        ("\tmodel: x\n", "not valid YAML"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write(tmp_path, content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "ghost.yaml")


def test_file_name_must_match_model(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"name it fraud-detector\.yaml"):
        load_policy(write(tmp_path, sample(), name="other.yaml"))


def test_loader_fields_cannot_be_forged(tmp_path: Path) -> None:
    data = sample() | {"digest": "0" * 64}
    with pytest.raises(PolicyError, match="digest is set by the loader"):
        load_policy(write(tmp_path, data))


def test_directory_loading_and_lookup(tmp_path: Path) -> None:
    write(tmp_path, sample())
    assert list(load_policy_dir(tmp_path)) == ["fraud-detector"]
    assert find_policy(tmp_path, "fraud-detector").model == "fraud-detector"
    with pytest.raises(NotFoundError, match="no policy for model 'nope'"):
        find_policy(tmp_path, "nope")
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy_dir(tmp_path / "missing")


def test_json_schema_is_serialisable_and_hides_loader_fields() -> None:
    schema = policy_json_schema()
    assert "digest" not in schema["properties"]
    assert {"model", "risk_tier", "roles", "data_contract"} <= set(schema["required"])
    json.dumps(schema)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        [
            "model",
            "risk_tier",
            "roles",
            "roles.owner",
            "roles.guardian.email",
            "roles.operator.slack",
            "data_contract",
            "data_contract.columns",
            "data_contract.min_rows",
            "monitoring",
            "monitoring.drift",
            "actions",
            "actions.critical",
            "actions.critical.kill",
            "guard",
            "approval.timeout_seconds",
        ]
    ),
    value=st.one_of(
        _scalars,
        st.lists(_scalars, max_size=3),
        st.dictionaries(st.text(max_size=5), _scalars, max_size=3),
    ),
)
def test_any_mutation_is_accepted_or_refused_with_a_policy_error(path: str, value: Any) -> None:
    """Whatever a file holds, the loader answers with a Policy or a PolicyError, never a crash."""
    data = mutate(path, value)
    try:
        policy = parse_policy(data, source="fuzz.yaml")
    except PolicyError as err:
        assert str(err).startswith("fuzz.yaml: ")
    else:
        assert policy.model
