"""The scorecard model: validation messages, YAML and table round trips (docs/scoring.md)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from chs_excel.core.errors import ModelError
from chs_excel.core.model import Metric, Model, Rule, default_model, header_key, load_model

# A model that uses every method, segments, quartile groups, a "No data" probability and
# rules whose values are numbers, text and booleans, on metric and non-metric columns.
FULL: dict[str, Any] = {
    "name": "Every method",
    "version": "2.1",
    "scale": 10,
    "bands": {"red_below": 3.5, "green_from": 7},
    "min_coverage": 0.25,
    "components": {"Usage": 3, "Money": 1.5, "People": 0},
    "metrics": [
        {"column": "util", "component": "Usage", "weight": 2.5, "method": "linear",
         "worst": 10, "best": 0.5},
        {"column": "logins", "component": "Usage", "weight": 1, "method": "steps",
         "breaks": [-1, 2.5, 10], "points": [0, 2, 7.5, 10]},
        {"column": "adoption", "component": "Usage", "weight": 0.5, "method": "percentile",
         "higher_is_better": False},
        {"column": "sponsor", "component": "People", "weight": 1, "method": "flag",
         "good": False},
        {"column": "contract", "component": "Money", "weight": 1, "method": "category",
         "points": {"Monthly": 3, "Multi-year": 10, "yes": 5}},
        {"column": "nps", "component": "People", "weight": 2, "method": "linear",
         "worst": 0, "best": 10},
    ],
    "rules": [
        {"name": "Low nps", "column": "nps", "op": "<=", "value": 4, "cap": 3.9},
        {"name": "Monthly contract", "column": "contract", "op": "=", "value": "monthly",
         "cap": 5},
        {"name": "Has sponsor", "column": "sponsor", "op": "<>", "value": True, "cap": 6},
        {"name": "Outside EU", "column": "region", "op": "<>", "value": "EU", "cap": 9},
        {"name": "Tiny", "column": "employees", "op": "<", "value": 10.5, "cap": 8},
    ],
    "segments": {"column": "plan", "weights": {
        "Starter": {"Usage": 1, "Money": 2, "People": 3},
        "Big Co": {"Usage": 0, "Money": 0.5, "People": 4}}},
    "quartiles": {"by": "region"},
    "renewal": {"probability": {"Green": 0.9, "Yellow": 0.6, "Red": 0.2, "No data": 0.4}},
}

# The smallest valid model; validation tests break one field of a copy.
BASE: dict[str, Any] = {
    "name": "Base",
    "components": {"Usage": 60, "Support": 40},
    "metrics": [
        {"column": "x", "component": "Usage", "method": "linear", "worst": 0, "best": 10},
        {"column": "logins", "component": "Usage", "method": "steps", "breaks": [5, 20],
         "points": [0, 50, 100]},
        {"column": "sponsor", "component": "Support", "method": "flag", "good": True},
    ],
    "rules": [{"name": "R", "column": "x", "op": "<", "value": 2, "cap": 30}],
    "segments": {"column": "plan",
                 "weights": {"Starter": {"Usage": 1, "Support": 1}}},
}


def full_model() -> Model:
    return Model.from_dict(copy.deepcopy(FULL))


def broken(change: Any) -> dict[str, Any]:
    """A copy of BASE with `change(data)` applied."""
    data = copy.deepcopy(BASE)
    change(data)
    return data


def model_error(data: Any) -> str:
    with pytest.raises(ModelError) as info:
        Model.from_dict(data)
    return str(info.value)


# ---------------------------------------------------------------- loading and fields

def test_full_model_fields_are_parsed() -> None:
    m = full_model()
    assert m.scale == 10.0 and m.red_below == 3.5 and m.green_from == 7.0
    assert m.min_coverage == 0.25 and m.version == "2.1"
    assert m.components == {"Usage": 3.0, "Money": 1.5, "People": 0.0}
    assert m.metric("util") == Metric(column="util", component="Usage", method="linear",
                                      weight=2.5, worst=10.0, best=0.5)
    assert m.metric("logins").breaks == (-1.0, 2.5, 10.0)
    assert m.metric("logins").points == (0.0, 2.0, 7.5, 10.0)
    assert m.metric("adoption").higher_is_better is False
    assert m.metric("sponsor").good is False
    assert m.metric("contract").categories == (("Monthly", 3.0), ("Multi-year", 10.0),
                                               ("yes", 5.0))
    assert m.rules[0] == Rule(name="Low nps", column="nps", op="<=", value=4.0, cap=3.9)
    assert m.rules[1].value == "monthly"
    assert m.rules[2].value is True
    assert m.segment_column == "plan"
    assert m.segment_weights["Big Co"] == {"Usage": 0.0, "Money": 0.5, "People": 4.0}
    assert m.quartiles_by == "region"
    assert m.renewal_probability == {"Green": 0.9, "Yellow": 0.6, "Red": 0.2, "No data": 0.4}


def test_defaults_when_optional_parts_are_left_out() -> None:
    m = Model.from_dict({"name": "Tiny", "components": {"A": 1},
                         "metrics": [{"column": "x", "component": "A", "method": "flag"}]})
    assert (m.scale, m.red_below, m.green_from, m.min_coverage) == (100.0, 40.0, 70.0, 0.5)
    assert m.metric("x").weight == 1.0 and m.metric("x").good is True
    assert m.rules == () and m.segment_column is None and m.quartiles_by is None
    assert m.renewal_probability == {"Green": 0.95, "Yellow": 0.80, "Red": 0.50}


def test_default_model_loads_and_matches_its_file() -> None:
    m = default_model()
    assert m.name == "SaaS default"
    assert sum(m.components.values()) == 35 + 15 + 20 + 15 + 15
    assert [r.name for r in m.rules] == ["Detractor survey", "Invoices 90+ days late"]
    assert m.metric("Licence Utilisation").column == "licence_utilisation"


def test_header_key_ignores_case_spaces_and_underscores() -> None:
    assert header_key("Account ID") == header_key("account_id") == header_key("ACCOUNTID")
    assert header_key(" Weakest  component ") == "weakestcomponent"
    assert header_key("days-late") != header_key("days_late")


def test_metric_lookup_matches_headers() -> None:
    m = default_model()
    assert m.metric("Days Late").column == "days_late"
    with pytest.raises(KeyError):
        m.metric("no_such_column")


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("make", [default_model, full_model], ids=["default", "full"])
def test_yaml_file_round_trip(tmp_path: Path, make: Any) -> None:
    m = make()
    path = tmp_path / "model.yaml"
    m.save(path)
    assert load_model(path) == m
    assert Model.from_dict(yaml.safe_load(path.read_text("utf-8"))) == m
    # Saved YAML has the documented shape: whole numbers as integers, keys in documented order.
    saved = yaml.safe_load(path.read_text("utf-8"))
    assert list(saved)[:4] == ["name", "version", "scale", "bands"]


def test_saved_full_model_keeps_types() -> None:
    saved = yaml.safe_load(full_model().to_yaml())
    assert saved["scale"] == 10 and isinstance(saved["scale"], int)
    assert saved["rules"][2]["value"] is True
    assert saved["rules"][1]["value"] == "monthly"
    assert saved["metrics"][1]["breaks"] == [-1, 2.5, 10]
    assert saved["quartiles"] == {"by": "region"}
    assert saved["segments"]["column"] == "plan"


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    full_model().save(tmp_path / "m.yaml")
    assert [p.name for p in tmp_path.iterdir()] == ["m.yaml"]


@pytest.mark.parametrize("make", [default_model, full_model], ids=["default", "full"])
def test_frame_round_trip_is_lossless(make: Any) -> None:
    m = make()
    tables = m.to_frame()
    assert Model.from_frame(tables) == m
    # Lossless twice over: the rebuilt model gives the same tables again.
    again = Model.from_frame(tables).to_frame()
    assert set(again) == set(tables)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(again[name], table, check_dtype=False)


def test_frame_tables_have_spec_names_and_columns() -> None:
    tables = full_model().to_frame()
    assert set(tables) == {"Components", "Metrics", "Levels", "Rules", "Segments",
                           "Settings", "RenewalProbability", "RenewalCurve", "Playbooks",
                           "Sources", "Columns", "Signals", "SignalFilters"}
    assert list(tables["Components"].columns) == ["component", "weight"]
    assert list(tables["Metrics"].columns)[:6] == ["column", "component", "weight",
                                                    "method", "worst", "best"]
    assert list(tables["Rules"].columns) == ["name", "column", "op", "value", "cap"]
    assert list(tables["Settings"].columns) == ["setting", "value"]
    assert list(tables["RenewalProbability"].columns) == ["band", "probability"]
    settings = dict(zip(tables["Settings"]["setting"], tables["Settings"]["value"],
                        strict=True))
    assert settings["red_below"] == 3.5 and settings["green_from"] == 7
    assert settings["min_coverage"] == 0.25 and settings["quartiles_by"] == "region"
    assert settings["segments_by"] == "plan"


def test_levels_table_holds_steps_and_category_points() -> None:
    levels = full_model().to_frame()["Levels"]
    steps = levels[levels["column"] == "logins"]
    assert steps["at_least"].isna().tolist() == [True, False, False, False]
    assert steps["at_least"].tolist()[1:] == [-1, 2.5, 10]
    assert steps["points"].tolist() == [0, 2, 7.5, 10]
    cats = levels[levels["column"] == "contract"]
    assert cats["label"].tolist() == ["Monthly", "Multi-year", "yes"]
    assert cats["points"].tolist() == [3, 10, 5]


def test_from_frame_matches_headers_as_a_user_writes_them() -> None:
    m = full_model()
    tables = {name: t.rename(columns=lambda c: str(c).replace("_", " ").title())
              for name, t in m.to_frame().items()}
    assert "Higher Is Better" in tables["Metrics"].columns
    assert "Segment" in tables["Segments"].columns
    assert "At Least" in tables["Levels"].columns
    assert Model.from_frame(tables) == m


def test_from_frame_ignores_blank_rows_and_reads_text_numbers() -> None:
    m = default_model()
    tables = m.to_frame()
    comps = tables["Components"].astype(object)
    comps["weight"] = [f" {w:g} " for w in comps["weight"]]
    blank = pd.DataFrame([{"component": None, "weight": None}])
    tables["Components"] = pd.concat([comps, blank], ignore_index=True)
    assert Model.from_frame(tables) == m


# ---------------------------------------------------------------- validation

CASES = [
    ("unknown method",
     lambda d: d["metrics"][0].update(method="sigmoid"), ["metric x", "method", "sigmoid"]),
    ("worst equals best",
     lambda d: d["metrics"][0].update(worst=5, best=5), ["metric x", "worst", "best"]),
    ("linear without best",
     lambda d: d["metrics"][0].pop("best"), ["metric x", "best"]),
    ("breaks repeated",
     lambda d: d["metrics"][1].update(breaks=[5, 5]), ["metric logins", "breaks",
                                                       "strictly increasing"]),
    ("breaks decreasing",
     lambda d: d["metrics"][1].update(breaks=[20, 5]), ["metric logins", "breaks"]),
    ("points too short",
     lambda d: d["metrics"][1].update(points=[0, 100]), ["metric logins", "points", "3"]),
    ("points too long",
     lambda d: d["metrics"][1].update(points=[0, 10, 20, 30]), ["metric logins", "points"]),
    ("steps points above scale",
     lambda d: d["metrics"][1].update(points=[0, 50, 101]), ["metric logins", "points"]),
    ("negative metric weight",
     lambda d: d["metrics"][0].update(weight=-1), ["metric x", "weight"]),
    ("text metric weight",
     lambda d: d["metrics"][0].update(weight="heavy"), ["metric x", "weight", "heavy"]),
    ("negative component weight",
     lambda d: d["components"].update(Usage=-5), ["component Usage", "weight"]),
    ("text component weight",
     lambda d: d["components"].update(Usage="lots"), ["component Usage", "weight", "lots"]),
    ("all component weights zero",
     lambda d: d.update(components={"Usage": 0, "Support": 0}), ["components", "zero"]),
    ("component metric weights all zero",
     lambda d: d["metrics"][2].update(weight=0), ["component Support", "zero"]),
    ("metric in undeclared component",
     lambda d: d["metrics"][0].update(component="Nope"), ["metric x", "component", "Nope"]),
    ("component without metrics",
     lambda d: d["components"].update(Empty=10), ["component Empty", "no metrics"]),
    ("unknown rule operator",
     lambda d: d["rules"][0].update(op="!="), ["rule 'R'", "op", "!="]),
    ("rule cap above scale",
     lambda d: d["rules"][0].update(cap=150), ["rule 'R'", "cap"]),
    ("rule missing a key",
     lambda d: d["rules"][0].pop("cap"), ["rule 'R'", "cap", "missing"]),
    ("ordering a flag",
     lambda d: d["rules"].append({"name": "F", "column": "sponsor", "op": "<",
                                  "value": True, "cap": 1}), ["rule 'F'", "op"]),
    ("flag rule value not true/false",
     lambda d: d["rules"].append({"name": "F", "column": "sponsor", "op": "=",
                                  "value": "maybe", "cap": 1}), ["rule 'F'", "value"]),
    ("red_below above green_from",
     lambda d: d.update(bands={"red_below": 80, "green_from": 70}),
     ["red_below", "green_from", "80", "70"]),
    ("probability above 1",
     lambda d: d.update(renewal={"probability": {"Green": 1.2}}),
     ["renewal.probability.Green", "between 0 and 1"]),
    ("probability below 0",
     lambda d: d.update(renewal={"probability": {"Red": -0.1}}),
     ["renewal.probability.Red", "between 0 and 1"]),
    ("unknown band",
     lambda d: d.update(renewal={"probability": {"Amber": 0.5}}), ["Amber"]),
    ("min_coverage above 1",
     lambda d: d.update(min_coverage=1.5), ["min_coverage"]),
    ("unknown top-level key",
     lambda d: d.update(colour="red"), ["unknown key 'colour'"]),
    ("unknown metric key",
     lambda d: d["metrics"][0].update(wieght=2), ["metric x", "unknown key 'wieght'"]),
    ("key of another method",
     lambda d: d["metrics"][0].update(breaks=[1]), ["metric x", "breaks", "linear"]),
    ("unknown rule key",
     lambda d: d["rules"][0].update(limit=3), ["rule 'R'", "unknown key 'limit'"]),
    ("unknown bands key",
     lambda d: d.update(bands={"red_below": 40, "amber_from": 50}),
     ["bands", "unknown key 'amber_from'"]),
    ("segment weights miss a component",
     lambda d: d["segments"]["weights"]["Starter"].pop("Support"),
     ["segments.weights.Starter", "Support"]),
    ("segment weights name an unknown component",
     lambda d: d["segments"]["weights"]["Starter"].update(Nope=1),
     ["segments.weights.Starter", "Nope"]),
    ("negative segment weight",
     lambda d: d["segments"]["weights"]["Starter"].update(Usage=-1),
     ["segments.weights.Starter.Usage", "weight"]),
    ("metric listed twice",
     lambda d: d["metrics"].append({"column": "X ", "component": "Usage",
                                    "method": "flag"}), ["metric X", "twice"]),
    ("metric on a reserved column",
     lambda d: d["metrics"].append({"column": "Health", "component": "Usage",
                                    "method": "flag"}), ["metric Health", "reserved"]),
    ("component named like an identity column (score output would clash)",
     lambda d: d["components"].update(Plan=1), ["component Plan", "'plan'", "rename"]),
    ("component named like a metric's score column",
     lambda d: d["components"].update(x_score=1), ["component x_score", "score column"]),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in CASES],
                         ids=[name for name, _, _ in CASES])
def test_validation_names_the_part_and_field(change: Any, expected: list[str]) -> None:
    message = model_error(broken(change))
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_base_model_is_valid() -> None:
    Model.from_dict(copy.deepcopy(BASE))


def test_model_constructor_validates_too() -> None:
    m = Model.from_dict(copy.deepcopy(BASE))
    with pytest.raises(ModelError, match="red_below"):
        m.replace(red_below=90.0)
    with pytest.raises(ModelError, match="metric x: worst and best are equal"):
        Model(name="m", components={"A": 1.0},
              metrics=(Metric(column="x", component="A", method="linear", worst=1, best=1),))


def test_top_level_must_be_a_mapping() -> None:
    assert "mapping" in model_error([1, 2, 3])


# ---------------------------------------------------------------- model files

def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncomponents:\n\tUsage: 1\n", "utf-8")
    with pytest.raises(ModelError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and "YAML" in message


def test_yaml_unclosed_mapping_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncomponents: {A: 1\nmetrics: []\n", "utf-8")
    with pytest.raises(ModelError, match="line 3"):
        load_model(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_model_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ModelError, match="empty"):
        load_model(path)


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(broken(lambda d: d["metrics"][0].update(method="x"))),
                    "utf-8")
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ") and "metric x" in str(info.value)


def test_model_file_with_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + default_model().to_yaml().encode("utf-8"))
    assert load_model(path) == default_model()


# ---------------------------------------------------------------- from_frame errors

def frame_error(tables: dict[str, pd.DataFrame]) -> str:
    with pytest.raises(ModelError) as info:
        Model.from_frame(tables)
    return str(info.value)


def test_from_frame_text_in_a_component_weight() -> None:
    tables = default_model().to_frame()
    comps = tables["Components"].astype(object)
    comps.loc[1, "weight"] = "heavy"
    tables["Components"] = comps
    message = frame_error(tables)
    assert "table Components" in message and "row 2" in message
    assert "column weight" in message and "heavy" in message


def test_from_frame_text_in_a_metric_weight() -> None:
    tables = default_model().to_frame()
    metrics = tables["Metrics"].astype(object)
    metrics.loc[3, "weight"] = "two"
    tables["Metrics"] = metrics
    message = frame_error(tables)
    assert "table Metrics, row 4, column weight" in message and "'two'" in message


def test_from_frame_blank_metric_weight() -> None:
    tables = default_model().to_frame()
    tables["Metrics"].loc[0, "weight"] = None
    message = frame_error(tables)
    assert "table Metrics, row 1, column weight" in message and "blank" in message


def test_from_frame_text_in_level_points() -> None:
    tables = default_model().to_frame()
    levels = tables["Levels"].astype(object)
    levels.loc[2, "points"] = "lots"
    tables["Levels"] = levels
    message = frame_error(tables)
    assert "table Levels, row 3, column points" in message and "lots" in message


def test_from_frame_text_in_a_segment_weight() -> None:
    tables = default_model().to_frame()
    seg = tables["Segments"].astype(object)
    seg.loc[1, "Support"] = "some"
    tables["Segments"] = seg
    message = frame_error(tables)
    assert "table Segments, row 2, column Support" in message


def test_from_frame_text_in_a_rule_cap_and_a_probability() -> None:
    tables = default_model().to_frame()
    tables["Rules"].loc[1, "cap"] = "low"
    assert "table Rules, row 2, column cap" in frame_error(tables)
    tables = default_model().to_frame()
    probs = tables["RenewalProbability"].astype(object)
    probs.loc[0, "probability"] = "likely"
    tables["RenewalProbability"] = probs
    assert "table RenewalProbability, row 1, column probability" in frame_error(tables)


def test_from_frame_text_in_a_setting() -> None:
    tables = default_model().to_frame()
    settings = tables["Settings"]
    settings.loc[settings["setting"] == "red_below", "value"] = "forty"
    message = frame_error(tables)
    assert "table Settings" in message and "red_below" in message and "forty" in message


def test_from_frame_unknown_setting() -> None:
    tables = default_model().to_frame()
    tables["Settings"] = pd.concat(
        [tables["Settings"], pd.DataFrame([{"setting": "colour", "value": "red"}])],
        ignore_index=True)
    assert "unknown setting 'colour'" in frame_error(tables)


def test_from_frame_missing_table_and_column() -> None:
    tables = default_model().to_frame()
    del tables["Rules"]
    assert "table Rules is missing" in frame_error(tables)
    tables = default_model().to_frame()
    tables["Metrics"] = tables["Metrics"].drop(columns="method")
    assert "table Metrics" in frame_error(tables) and "'method'" in frame_error(tables)


def test_from_frame_first_steps_level_needs_blank_at_least() -> None:
    tables = default_model().to_frame()
    levels = tables["Levels"]
    first = levels.index[levels["column"] == "logins_30d"][0]
    levels.loc[first, "at_least"] = 0
    message = frame_error(tables)
    assert "table Levels" in message and "at_least" in message and "logins_30d" in message


def test_from_frame_validation_errors_name_the_metric() -> None:
    tables = default_model().to_frame()
    metrics = tables["Metrics"]
    metrics.loc[metrics["column"] == "nps", "best"] = 0
    message = frame_error(tables)
    assert message.startswith("Model: ") and "metric nps: worst and best are equal" in message


def test_fiscal_year_start_round_trips_and_defaults_to_january(tmp_path: Path) -> None:
    model = default_model().replace(fiscal_year_start=4)
    model.save(tmp_path / "m.yaml")
    assert "fiscal_year_start: 4" in (tmp_path / "m.yaml").read_text("utf-8")
    assert load_model(tmp_path / "m.yaml") == model
    assert Model.from_frame(model.to_frame()) == model
    # an older model file or workbook without the setting reads January
    data = model.to_dict()
    del data["fiscal_year_start"]
    assert Model.from_dict(data).fiscal_year_start == 1
    tables = model.to_frame()
    settings = tables["Settings"]
    tables["Settings"] = settings[settings["setting"] != "fiscal_year_start"]
    assert Model.from_frame(tables).fiscal_year_start == 1


@pytest.mark.parametrize("value", [0, 13, 2.5, "March", True])
def test_fiscal_year_start_must_be_a_month_number(value: Any) -> None:
    with pytest.raises(ModelError, match="fiscal_year_start"):
        Model.from_dict({**default_model().to_dict(), "fiscal_year_start": value})
    tables = default_model().to_frame()
    settings = tables["Settings"].copy()
    settings.loc[settings["setting"] == "fiscal_year_start", "value"] = value
    tables["Settings"] = settings
    with pytest.raises(ModelError, match="table Settings, setting fiscal_year_start"):
        Model.from_frame(tables)
