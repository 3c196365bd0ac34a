"""crqlab.data.draft_study: `crqlab init` drafts study.yaml for a messy client export."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from crqlab import cli
from crqlab.data.draft_study import (
    draft_study,
    draft_study_yaml,
    guess_roles,
    map_columns,
    normalise_column,
)
from crqlab.data.instruments import load_instrument
from crqlab.data.study import load_study
from crqlab.errors import CrqlabError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
ITEMS = load_instrument("crq").items


@pytest.mark.parametrize("raw, key", [
    ("Contact ID", "contact_id"), ("ContactID", "contact_id"), ("contactId", "contact_id"),
    ("  E-mail ", "e_mail"), ("Trust Q1", "trust_1"), ("trust_01", "trust_1"),
    ("Trust (1)", "trust_1"), ("Satisfaction item 3", "satisfaction_3"),
    ("Leading-Edge", "leading_edge"), ("Région", "region"), ("R&D spend", "r_and_d_spend"),
])
def test_normalise_column(raw, key):
    assert normalise_column(raw) == key


def test_map_columns_synonyms_and_leftovers():
    m = map_columns("responses", ["Respondent ID", "Wave", "Likelihood to recommend (0-10)",
                                  "Trust Q1", "Responsivness", "Channel"], items=ITEMS)
    assert m.mapped == {"contact_id": "Respondent ID", "wave": "Wave",
                        "nps": "Likelihood to recommend (0-10)", "trust_1": "Trust Q1",
                        "responsiveness": "Responsivness"}
    assert m.how["responsiveness"].startswith("close spelling")
    assert m.unmapped == ["Channel"]


@pytest.mark.parametrize("columns, expected", [
    (["Company", "Sector"], {"account_id": "Company", "industry": "Sector"}),
    (["Account ID", "Company"], {"account_id": "Account ID", "account_name": "Company"}),
    (["Account", "Company Name", "AM"], {"account_id": "Account", "account_name": "Company Name",
                                         "account_manager": "AM"}),
])
def test_company_is_the_key_unless_an_id_column_exists(columns, expected):
    assert map_columns("accounts", columns).mapped == expected


def test_short_names_are_not_fuzzy_matched():
    assert map_columns("contacts", ["rol", "wav"]).mapped == {}


def test_guess_roles_by_columns_and_file_names():
    tables = {"a.csv": ["Contact ID", "Company", "Role", "Responded", "Wave"],
              "b.csv": ["Contact ID", "Wave", "NPS", *ITEMS],
              "c.csv": ["Account", "Industry", "Region"]}
    roles = guess_roles(tables, ITEMS)
    assert {r: m.file for r, m in roles.items()} == {"contacts": "a.csv", "responses": "b.csv",
                                                     "accounts": "c.csv"}
    two = guess_roles({k: v for k, v in tables.items() if k != "c.csv"}, ITEMS)
    assert set(two) == {"contacts", "responses"}


def _messy_export(folder: Path) -> Path:
    """The fixture study as a client might export it: odd names, three formats, cp1252 ; CSV."""
    folder.mkdir()
    c = pd.read_csv(FIXTURE / "contacts.csv").rename(columns={
        "contact_id": "Contact ID", "account_id": "Company", "wave": "Survey Wave",
        "role": "Job Role", "responded": "Responded?", "contact_email": "E-mail",
        "contact_name": "Full Name", "invited_on": "Invitation Date",
        "reminders": "Reminders sent", "newly_included": "New contact",
        "confidential": "Confidentiality", "responded_on": "Response date"})
    c["Job Title"] = "Manager"
    c.to_excel(folder / "Invitation list 2023.xlsx", index=False)
    r = pd.read_csv(FIXTURE / "responses.csv", dtype=str, keep_default_na=False)
    ren = {"contact_id": "ContactID", "wave": "Wave", "nps": "Likelihood to recommend (0-10)",
           "weaknesses": "What could we improve?", "value_for_money": "Value For Money",
           "leading_edge": "Leading-Edge", "customer_care": "Customer Care",
           "responsiveness": "Responsivness"}
    ren.update({f"{e}_{i}": f"{e.title()} Q{i}" for e in
                ("trust", "commitment", "satisfaction", "experience") for i in (1, 2, 3)})
    r = r.rename(columns=ren).assign(**{"Survey Channel": "web"})
    r.to_csv(folder / "survey_results.csv", sep=";", index=False, encoding="cp1252")
    a = pd.read_csv(FIXTURE / "accounts.csv").rename(columns={
        "account_id": "Account", "account_name": "Company Name", "industry": "Sector",
        "region": "Territory", "account_manager": "Key Account Manager"})
    a.to_parquet(folder / "crm_accounts.parquet")
    return folder


def test_draft_maps_a_messy_export_that_then_validates(tmp_path):
    folder = _messy_export(tmp_path / "acme")
    path = draft_study_yaml(folder)
    text = path.read_text(encoding="utf-8")
    cfg = yaml.safe_load(text)
    assert cfg["study"] == "acme"
    assert cfg["files"] == {"contacts": "Invitation list 2023.xlsx",
                            "responses": "survey_results.csv",
                            "accounts": "crm_accounts.parquet"}
    assert cfg["columns"]["contacts"]["account_id"] == "Company"
    assert cfg["columns"]["contacts"]["contact_email"] == "E-mail"
    assert cfg["columns"]["responses"]["nps"] == "Likelihood to recommend (0-10)"
    assert cfg["columns"]["responses"]["trust_2"] == "Trust Q2"
    assert cfg["columns"]["accounts"]["account_manager"] == "Key Account Manager"
    assert cfg["waves"] == {1: {"label": "1", "confidentiality": "unknown"},
                            2: {"label": "2", "confidentiality": "unknown"}}
    assert "Don't know" in cfg["missing_codes"]
    assert cfg["segments"] == ["role", "newly_included", "industry", "region", "account_manager"]
    assert '# TODO: unmapped: "Job Title"' in text
    assert '# TODO: unmapped: "Survey Channel"' in text
    study = load_study(folder)  # the draft is a valid study.yaml for these data
    assert len(study.responses) == len(pd.read_csv(FIXTURE / "responses.csv"))
    assert study.responses["nps"].notna().sum() == pd.read_csv(FIXTURE / "responses.csv")["nps"].notna().sum()


def test_missing_required_columns_are_todos(tmp_path):
    folder = tmp_path / "thin"
    folder.mkdir()
    pd.DataFrame({"Contact ID": ["c1"], "Wave": [1], "Company": ["A"]}).to_csv(
        folder / "contacts.csv", index=False)
    pd.DataFrame({"Contact ID": ["c1"], "Wave": [1], "NPS": [9]}).to_csv(
        folder / "responses.csv", index=False)
    text = draft_study_yaml(folder).read_text(encoding="utf-8")
    assert "# TODO: unmapped required column responded" in text
    assert "# TODO: unmapped required column trust_1" in text
    assert "# accounts: TODO: no file looks like the accounts table (optional)" in text
    yaml.safe_load(text)


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    folder = _messy_export(tmp_path / "acme")
    (folder / "study.yaml").write_text("study: mine\n", encoding="utf-8")
    with pytest.raises(CrqlabError, match="--force"):
        draft_study_yaml(folder)
    assert (folder / "study.yaml").read_text(encoding="utf-8") == "study: mine\n"
    assert cli.main(["init", str(folder)]) == 2
    assert cli.main(["init", str(folder), "--force"]) == 0
    assert "crqlab validate" in capsys.readouterr().out
    assert yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))["study"] == "acme"


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(CrqlabError, match="no table"):
        draft_study_yaml(tmp_path)
    with pytest.raises(CrqlabError, match="not a folder"):
        draft_study_yaml(tmp_path / "nope")


# --- deliveries as received (issue 15) ---------------------------------------------------------

def test_question_text_abbreviations_and_platform_metadata():
    m = map_columns("responses", ["ResponseId", "ExternalReference", "Solution_1", "Q10",
                                  "Q10_NPS_GROUP", "COMMIT1", "INNOV"],
                    items=ITEMS,
                    descriptions={"Solution_1": "How would you rate it? - Innovation",
                                  "Q10": "How likely is it that you would recommend us?",
                                  "Q10_NPS_GROUP": "How likely ... recommend us? - Group"},
                    ignore=frozenset({"ResponseId"}))
    assert m.mapped == {"contact_id": "ExternalReference", "innovation": "Solution_1",
                        "nps": "Q10", "commitment_1": "COMMIT1"}
    assert (m.how["innovation"], m.how["nps"], m.how["commitment_1"]) == (
        "question text", "question text", "abbreviation")
    assert m.unmapped == ["Q10_NPS_GROUP", "INNOV"]  # innovation is taken by its question text
    assert "ResponseId" not in m.unmapped            # platform metadata is never mapped


def test_a_table_without_its_key_is_never_taken():
    tables = {"notes.xlsx#Read me": ["Acme CRM extract for the customer survey"],
              "crm.xlsx#Invitations": ["Contact ID", "Account ID", "Job Role", "Member Status"],
              "crm.xlsx#Accounts": ["Account ID", "Account Name", "Industry"]}
    roles = guess_roles(tables, ITEMS)
    assert {r: m.file for r, m in roles.items()} == {"contacts": "crm.xlsx#Invitations",
                                                     "accounts": "crm.xlsx#Accounts"}


def test_survey_files_that_differ_by_year_are_one_table_with_a_wave_each(tmp_path):
    folder = tmp_path / "yearly"
    folder.mkdir()
    r = pd.read_csv(FIXTURE / "responses.csv", dtype=str, keep_default_na=False)
    c = pd.read_csv(FIXTURE / "contacts.csv", dtype=str, keep_default_na=False)
    for year, w in (("2021", "1"), ("2022", "2")):
        r[r["wave"] == w].drop(columns="wave").to_csv(folder / f"NPS survey {year}.csv",
                                                      index=False)
    c.to_csv(folder / "contacts.csv", index=False)
    draft = draft_study(folder)
    cfg = yaml.safe_load(draft.text)
    assert cfg["files"]["responses"] == [{"file": "NPS survey 2021.csv", "wave": 1},
                                         {"file": "NPS survey 2022.csv", "wave": 2}]
    assert "# guessed: 2021 in the file name" in draft.text
    assert any(line.startswith("NPS survey 2022.csv: a plain table") and
               "-> responses, wave 2" in line for line in draft.listing)
    # the contacts' own wave column (1, 2) and the files' years agree on two waves
    assert sorted(cfg["waves"]) == [1, 2]


def test_unreadable_files_are_listed_not_fatal(tmp_path):
    folder = _messy_export(tmp_path / "acme")
    (folder / "broken.xlsx").write_bytes(b"not a workbook")
    draft = draft_study(folder)
    assert any(line.startswith("broken.xlsx: cannot be read") for line in draft.listing)
    assert load_study(folder).responses is not None
