"""Four client deliveries written by hand, cell by cell, the way the platforms write them.

Nothing here comes from ``crqlab.synth``: every answer is a literal below, so the numbers the
tests expect (responses per wave, NPS, item means) can be worked out from this file by hand.

- **acme**: two Qualtrics CSV exports with answers as text labels (three header rows, every
  field quoted, UTF-8 with BOM, CRLF), a preview row, an anonymous-link row, unfinished
  responses and a contact who answered twice; the client's CRM workbook with a cover sheet,
  an invitations sheet ("Member Status" = Sent/Responded/Bounced, campaign names per year)
  and an accounts sheet with churn dates.
- **bolt**: one Qualtrics numeric export where "don't know" is coded 8 on the 1-7 items - and
  8 is also a genuine answer of the 0-10 recommend question; an invitation list in CSV.
- **cobalt**: a SurveyMonkey XLSX export (question in row 1, answer option in row 2, a
  matrix question over 18 columns); a contacts workbook.
- **delta**: SPSS ``.sav`` files written with pyreadstat: items with value labels and a
  user-missing "don't know" (9), the recommend question with user-missing 99, a frame with
  labelled role and responded codes.

Each respondent of a survey gives one answer (``base``) to every item, except the items
listed as "don't know"; that keeps the item means easy to check by hand.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

__all__ = ["AGREE7", "ITEM_TAGS", "build", "DELIVERIES"]

AGREE7 = ["Strongly disagree", "Disagree", "Somewhat disagree", "Neither agree nor disagree",
          "Somewhat agree", "Agree", "Strongly agree"]
ITEMS = ["trust_1", "trust_2", "trust_3", "commitment_1", "commitment_2", "commitment_3",
         "satisfaction_1", "satisfaction_2", "satisfaction_3", "experience_1", "experience_2",
         "experience_3", "innovation", "leading_edge", "value_for_money", "reliability",
         "responsiveness", "customer_care"]
#: Qualtrics export tags of the 18 items, as a survey designer would name the questions.
ITEM_TAGS = ["Trust_1", "Trust_2", "Trust_3", "Commitment_1", "Commitment_2", "Commitment_3",
             "Satisfaction_1", "Satisfaction_2", "Satisfaction_3", "Experience_1",
             "Experience_2", "Experience_3", "Solution_1", "Solution_2", "Solution_3",
             "Service_1", "Service_2", "Service_3"]
STATEMENTS = [
    "They keep the promises they make to us", "They are honest with us",
    "They act in our interest", "We intend to stay with them", "We are proud to work with them",
    "We would miss them if they were gone", "They meet our expectations",
    "We are satisfied with the relationship", "They compare well with the ideal supplier",
    "Working with them is a good experience", "They are easy to deal with",
    "They understand our business", "Innovation", "Leading edge", "Value for money",
    "Reliability", "Responsiveness", "Customer care"]
_QUALTRICS_META = [
    ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"America/Denver"}'),
    ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"America/Denver"}'),
    ("Status", "Response Type", '{"ImportId":"status"}'),
    ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
    ("Progress", "Progress", '{"ImportId":"progress"}'),
    ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
    ("Finished", "Finished", '{"ImportId":"finished"}'),
    ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate","timeZone":"America/Denver"}'),
    ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
    ("RecipientLastName", "Recipient Last Name", '{"ImportId":"recipientLastName"}'),
    ("RecipientFirstName", "Recipient First Name", '{"ImportId":"recipientFirstName"}'),
    ("RecipientEmail", "Recipient Email", '{"ImportId":"recipientEmail"}'),
    ("ExternalReference", "External Data Reference", '{"ImportId":"externalDataReference"}'),
    ("LocationLatitude", "Location Latitude", '{"ImportId":"locationLatitude"}'),
    ("LocationLongitude", "Location Longitude", '{"ImportId":"locationLongitude"}'),
    ("DistributionChannel", "Distribution Channel", '{"ImportId":"distributionChannel"}'),
    ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
]


def _item_texts(client: str) -> list[str]:
    agree = f"How far do you agree with each statement about {client}?"
    solution = f"Thinking about {client}'s solution, how would you rate it? "
    service = f"Thinking about {client}'s service, how would you rate it? "
    return ([f"{agree} - {s}" for s in STATEMENTS[:12]]
            + [f"{solution}- {s}" for s in STATEMENTS[12:15]]
            + [f"{service}- {s}" for s in STATEMENTS[15:]])


# ---------------------------------------------------------------------------------------------
# Qualtrics

def _qualtrics_header(client: str) -> tuple[list[str], list[str], list[str]]:
    names = [m[0] for m in _QUALTRICS_META] + ITEM_TAGS + ["Q10", "Q10_NPS_GROUP", "Q11", "Q12",
                                                          "Q13"]
    recommend = f"How likely is it that you would recommend {client} to a friend or colleague?"
    texts = [m[1] for m in _QUALTRICS_META] + _item_texts(client) + [
        recommend, f"{recommend} - Group", f"What does {client} do particularly well?",
        f"What could {client} improve?",
        f"May we share your name with {client} alongside your answers?"]
    qid = [f'{{"ImportId":"QID{2 + i // 12}_{i % 12 + 1}"}}' for i in range(18)]
    ids = [m[2] for m in _QUALTRICS_META] + qid + [
        '{"ImportId":"QID5"}', '{"ImportId":"QID5_NPS_GROUP"}', '{"ImportId":"QID6_TEXT"}',
        '{"ImportId":"QID7_TEXT"}', '{"ImportId":"QID8"}']
    return names, texts, ids


def _nps_label(x) -> str:
    return {0: "0 - Not at all likely", 10: "10 - Extremely likely"}.get(x, str(x))


def _nps_group(x) -> str:
    return "" if x == "" else "Promoter" if x >= 9 else "Passive" if x >= 7 else "Detractor"


def _qualtrics_row(r: dict, labels: bool, k: int) -> list[str]:
    """One response: r has contact, status, finished, day, base, nps, dk, share, texts."""
    day, time = r["day"], f"09:{10 + k:02d}:0{k % 10}"
    answered = r.get("answered", len(ITEMS))
    items = []
    for i, name in enumerate(ITEMS):
        if i >= answered:
            items.append("")
        elif name in r.get("dk", ()):
            items.append("Don't know" if labels else "8")
        else:
            items.append(AGREE7[r["base"] - 1] if labels else str(r["base"]))
    nps = r.get("nps", "")
    first, last = r.get("name", " ").split(" ", 1) if r.get("name") else ("", "")
    status = r.get("status", "IP Address" if labels else "0")
    finished = r.get("finished", True)
    meta = [f"{day} {time}", f"{day} {time[:3]}{int(time[3:5]) + 6:02d}{time[5:]}", status,
            "" if status in ("Survey Preview", "1") else f"203.0.113.{10 + k}",
            str(r.get("progress", 100)), str(r.get("seconds", 300 + 17 * k)),
            ("True" if finished else "False") if labels else ("1" if finished else "0"),
            f"{r.get('recorded', day)} {time[:3]}{int(time[3:5]) + 6:02d}{time[5:]}",
            f"R_{r.get('rid', k):0>15}", last, first, r.get("email", ""), r.get("contact", ""),
            "39.7392", "-104.9847", "anonymous" if not r.get("contact") else "email", "EN"]
    share = r.get("share", "")
    if not labels and share:
        share = {"Yes": "1", "No": "2"}[share]
    return meta + items + [
        _nps_label(nps) if labels and nps != "" else str(nps),
        (_nps_group(nps) if labels else str({"Promoter": 3, "Passive": 2, "Detractor": 1}.get(
            _nps_group(nps), ""))) if nps != "" else "",
        r.get("good", ""), r.get("improve", ""), share]


def qualtrics_csv(path: Path, client: str, rows: list[dict], labels: bool) -> None:
    """A Qualtrics CSV export: every field quoted, UTF-8 with BOM, CRLF, three header rows."""
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for header in _qualtrics_header(client):
        w.writerow(header)
    for k, r in enumerate(rows):
        w.writerow(_qualtrics_row(r, labels, k))
    path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# acme: Qualtrics labels + CRM workbook

ACME_2023 = [
    dict(status="Survey Preview", day="2023-03-03", base=7, nps=10, share="Yes"),  # preview
    dict(contact="C-1001", name="Ann Archer", day="2023-03-07", base=7, nps=10, share="Yes",
         good="Their account team knows our business", improve="Faster invoicing"),
    dict(contact="C-1002", name="Ben Brook", day="2023-03-07", base=6, nps=9, share="Yes"),
    dict(contact="C-1003", name="Cara Cole", day="2023-03-08", base=5, nps=8, share="No"),
    dict(contact="C-1004", name="Dev Dunn", day="2023-03-08", base=4, nps=7, share="Yes"),
    dict(contact="C-1005", name="Eve Ellis", day="2023-03-09", base=6, nps=9, share="No",
         dk=("trust_1",)),
    dict(contact="C-1006", name="Finn Ford", day="2023-03-09", base=3, nps=5, share="Yes",
         improve="Slow answers from support"),
    dict(contact="C-1007", name="Gil Gray", day="2023-03-10", base=2, nps=0, share="No"),
    dict(contact="C-1008", name="Hal Hunt", day="2023-03-10", base=5, answered=5, nps="",
         finished=False, progress=40),                                          # partial
    dict(day="2023-03-11", base=6, nps=9, share="No"),                          # anonymous link
    dict(contact="C-1009", name="Ida Irwin", day="2023-03-13", base=7, nps=10, share="Yes"),
]
ACME_2024 = [
    dict(status="Survey Preview", day="2024-03-01", base=6, nps=9, share="Yes"),   # preview
    dict(contact="C-1001", name="Ann Archer", day="2024-03-05", base=6, nps=9, share="Yes"),
    dict(contact="C-1002", name="Ben Brook", day="2024-03-05", base=5, nps=8, share="Yes"),
    dict(contact="C-1003", name="Cara Cole", day="2024-03-06", base=7, nps=10, share="No"),
    # C-1007 answered twice: the later answer (recorded 03-12) comes first in the file
    dict(contact="C-1007", name="Gil Gray", day="2024-03-12", base=4, nps=7, share="No"),
    dict(contact="C-1007", name="Gil Gray", day="2024-03-06", base=3, nps=6, share="No"),
    dict(contact="C-1010", name="Jo Jones", day="2024-03-07", base=5, nps=9, share="Yes",
         dk=("customer_care",)),
    dict(contact="C-1011", name="Kai King", day="2024-03-07", base=4, answered=9, nps="",
         finished=False, progress=55),                                            # partial
    dict(contact="C-1012", name="Lea Lane", day="2024-03-08", base=1, nps=0, share="Yes"),
]
ACME_CONTACTS = {  # contact -> name, account, role
    "C-1001": ("Ann Archer", "A-01", "Key decision maker"),
    "C-1002": ("Ben Brook", "A-01", "Operational"),
    "C-1003": ("Cara Cole", "A-01", "CX team"),
    "C-1004": ("Dev Dunn", "A-02", "Key decision maker"),
    "C-1005": ("Eve Ellis", "A-02", "Administrative"),
    "C-1006": ("Finn Ford", "A-02", "Operational"),
    "C-1007": ("Gil Gray", "A-03", "Key decision maker"),
    "C-1008": ("Hal Hunt", "A-03", "Operational"),
    "C-1009": ("Ida Irwin", "A-03", "CX team"),
    "C-1010": ("Jo Jones", "A-04", "Key decision maker"),
    "C-1011": ("Kai King", "A-04", "Operational"),
    "C-1012": ("Lea Lane", "A-04", "Administrative"),
}
ACME_INVITED = {  # campaign -> (invitation date, contact -> member status)
    "Acme CX 2023": ("2023-03-06", {
        "C-1001": "Responded", "C-1002": "Responded", "C-1003": "Responded",
        "C-1004": "Responded", "C-1005": "Responded", "C-1006": "Responded",
        "C-1007": "Responded", "C-1008": "Sent", "C-1009": "Responded", "C-1010": "Bounced"}),
    "Acme CX 2024": ("2024-03-04", {
        "C-1001": "Responded", "C-1002": "Responded", "C-1003": "Responded", "C-1004": "Sent",
        "C-1007": "Responded", "C-1010": "Responded", "C-1011": "Sent",
        "C-1012": "Responded"}),
}
ACME_ACCOUNTS = [  # id, name, industry, region, manager, churn date
    ("A-01", "Northwind Traders", "Retail", "North", "Pat Quinn", None),
    ("A-02", "Contoso Energy", "Energy", "South", "Pat Quinn", "2023-11-30"),
    ("A-03", "Fabrikam Logistics", "Logistics", "North", "Rob Stone", "2024-09-30"),
    ("A-04", "Tailspin Foods", "Retail", "South", "Rob Stone", None),
]


def _crm_workbook(path: Path) -> None:
    """The CRM extract: a cover sheet, then invitations and accounts, dates as date cells."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    cover = wb.active
    cover.title = "Read me"
    for row in (["Acme CRM extract for the customer survey"], [],
                ["Prepared by Acme Sales Operations, 2 April 2024"],
                ["Sheets: Invitations (one row per campaign member), Accounts"],
                ["Contact the CRM team with questions."]):
        cover.append(row)
    inv = wb.create_sheet("Invitations")
    inv.append(["Contact ID", "Contact Name", "Email", "Account ID", "Job Role", "Campaign",
                "Invited On", "Member Status"])
    for campaign, (day, members) in ACME_INVITED.items():
        for cid, status in members.items():
            name, account, role = ACME_CONTACTS[cid]
            email = name.lower().replace(" ", ".") + "@example.com"
            inv.append([cid, name, email, account, role, campaign,
                        dt.date.fromisoformat(day), status])
    acc = wb.create_sheet("Accounts")
    acc.append(["Account ID", "Account Name", "Industry", "Region", "Account Manager",
                "Churn Date"])
    for a in ACME_ACCOUNTS:
        acc.append([*a[:5], dt.date.fromisoformat(a[5]) if a[5] else None])
    wb.save(path)


def acme(folder: Path) -> None:
    qualtrics_csv(folder / "Acme CX Survey 2023.csv", "Acme", ACME_2023, labels=True)
    qualtrics_csv(folder / "Acme CX Survey 2024.csv", "Acme", ACME_2024, labels=True)
    _crm_workbook(folder / "Acme CRM extract.xlsx")


# ---------------------------------------------------------------------------------------------
# bolt: Qualtrics numeric export, "don't know" = 8

BOLT_2024 = [
    dict(status="1", day="2024-05-02", base=7, nps=10),                         # preview
    dict(contact="B-01", day="2024-05-06", base=7, nps=8),
    dict(contact="B-02", day="2024-05-06", base=6, nps=8),
    dict(contact="B-03", day="2024-05-07", base=5, nps=9, dk=("trust_1", "trust_2", "trust_3")),
    dict(contact="B-04", day="2024-05-07", base=3, nps=6),
    dict(contact="B-05", day="2024-05-08", base=4, nps=8, dk=("customer_care",)),
    dict(contact="B-06", day="2024-05-08", base=5, answered=4, nps="", finished=False,
         progress=35),                                                           # partial
    dict(contact="B-07", day="2024-05-09", base=6, nps=10),
]
BOLT_CONTACTS = [  # contact, company, role, responded
    ("B-01", "Harbor Freight Co", "Key decision maker", "Y"),
    ("B-02", "Harbor Freight Co", "Operational", "Y"),
    ("B-03", "Lakeside Clinics", "Key decision maker", "Y"),
    ("B-04", "Lakeside Clinics", "CX team", "Y"),
    ("B-05", "Summit Mills", "Operational", "Y"),
    ("B-06", "Summit Mills", "Administrative", "N"),
    ("B-07", "Summit Mills", "Key decision maker", "Y"),
    ("B-08", "Harbor Freight Co", "Administrative", "N"),
]


def bolt(folder: Path) -> None:
    qualtrics_csv(folder / "Bolt Relationship Survey 2024.csv", "Bolt", BOLT_2024, labels=False)
    lines = ["Contact ID,Company,Role,Responded"] + [",".join(c) for c in BOLT_CONTACTS]
    (folder / "Bolt invitation list 2024.csv").write_text("\r\n".join(lines) + "\r\n",
                                                          encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# cobalt: SurveyMonkey XLSX

COBALT_2024 = [  # contact, base, nps, N/A items, answered items, good, better
    ("K-01", 6, 9, (), 18, "Quick to respond", ""),
    ("K-02", 7, 10, (), 18, "", ""),
    ("K-03", 4, 7, (), 18, "", "Prices went up"),
    ("K-04", 2, 3, (), 18, "", "Deliveries were late twice"),
    ("K-05", 6, "", (), 3, "", ""),                                # left after three items
    ("K-06", 5, 8, ("value_for_money",), 18, "Friendly staff", ""),
]
COBALT_CONTACTS = [("K-01", "Delta Dairy", "Key decision maker", "Yes"),
                   ("K-02", "Delta Dairy", "Operational", "Yes"),
                   ("K-03", "Echo Print", "Key decision maker", "Yes"),
                   ("K-04", "Echo Print", "CX team", "Yes"),
                   ("K-05", "Foxtrot Farms", "Operational", "Yes"),
                   ("K-06", "Foxtrot Farms", "Key decision maker", "Yes"),
                   ("K-07", "Foxtrot Farms", "Administrative", "No")]
SM_AGREE = "How far do you agree with each statement about Cobalt?"
SM_RECOMMEND = "How likely is it that you would recommend Cobalt to a friend or colleague?"


def _surveymonkey_rows() -> list[list]:
    meta = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
            "Email Address", "First Name", "Last Name", "Custom Data 1"]
    row1 = meta + [SM_AGREE] + [None] * 17 + [SM_RECOMMEND, "What does Cobalt do well?",
                                              "What could Cobalt do better?"]
    row2 = [None] * len(meta) + STATEMENTS + ["Response", "Open-Ended Response",
                                             "Open-Ended Response"]
    rows = [row1, row2]
    for k, (cid, base, nps, na, answered, good, better) in enumerate(COBALT_2024):
        items = [None if i >= answered else "N/A" if name in na else AGREE7[base - 1]
                 for i, name in enumerate(ITEMS)]
        rows.append([11836540000 + 17 * k, 431200915, f"06/1{k}/2024 09:1{k}:03 AM",
                     f"06/1{k}/2024 09:2{k}:41 AM", f"198.51.100.{20 + k}", None, None, None,
                     cid] + items + [None if nps == "" else nps, good or None, better or None])
    return rows


def cobalt(folder: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet"
    for row in _surveymonkey_rows():
        ws.append(row)
    wb.save(folder / "Cobalt Customer Survey 2024.xlsx")
    wb = Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["Contact ID", "Company", "Role", "Responded"])
    for row in COBALT_CONTACTS:
        ws.append(list(row))
    wb.save(folder / "Cobalt contacts.xlsx")


# ---------------------------------------------------------------------------------------------
# delta: SPSS

SPSS_NAMES = ["TRUST1", "TRUST2", "TRUST3", "COMMIT1", "COMMIT2", "COMMIT3", "SATIS1",
              "SATIS2", "SATIS3", "EXPER1", "EXPER2", "EXPER3", "INNOV", "LEADEDGE", "VALUE",
              "RELIAB", "RESPONS", "CARE"]
SPSS_LABELS = [f"Trust: {s}" for s in STATEMENTS[:3]] + \
    [f"Commitment: {s}" for s in STATEMENTS[3:6]] + \
    [f"Satisfaction: {s}" for s in STATEMENTS[6:9]] + \
    [f"Experience: {s}" for s in STATEMENTS[9:12]] + \
    [f"Solution: {s}" for s in STATEMENTS[12:15]] + [f"Service: {s}" for s in STATEMENTS[15:]]
DELTA = [  # id, wave, base, nps (99 = no answer), "don't know" items (9)
    ("D01", 1, 5, 9, ()), ("D02", 1, 6, 10, ()), ("D03", 1, 3, 99, ()),
    ("D04", 1, 7, 6, ("TRUST2",)),
    ("D01", 2, 6, 10, ()), ("D02", 2, 4, 7, ()), ("D05", 2, 2, 2, ()),
]
DELTA_FRAME = [  # id, wave, account, role code, responded code
    ("D01", 1, "Orion", 1, 1), ("D02", 1, "Orion", 2, 1), ("D03", 1, "Vega", 1, 1),
    ("D04", 1, "Vega", 3, 1), ("D05", 1, "Vega", 4, 0),
    ("D01", 2, "Orion", 1, 1), ("D02", 2, "Orion", 2, 1), ("D03", 2, "Vega", 1, 0),
    ("D04", 2, "Vega", 3, 0), ("D05", 2, "Vega", 4, 1),
]


def delta(folder: Path) -> None:
    import pandas as pd
    import pyreadstat

    rows = []
    for cid, wave, base, nps, dk in DELTA:
        rows.append({"ID": cid, "WAVE": wave, **{v: (9 if v in dk else base) for v in SPSS_NAMES},
                     "NPS": nps})
    survey = pd.DataFrame(rows)
    agree = {i + 1.0: label for i, label in enumerate(AGREE7)} | {9.0: "Don't know"}
    pyreadstat.write_sav(
        survey, str(folder / "delta_survey.sav"),
        column_labels=["Contact ID", "Survey wave", *SPSS_LABELS,
                       "How likely is it that you would recommend Delta to a colleague?"],
        variable_value_labels={**{v: agree for v in SPSS_NAMES},
                               "NPS": {0.0: "Not at all likely", 10.0: "Extremely likely",
                                       99.0: "No answer"}},
        missing_ranges={**{v: [9] for v in SPSS_NAMES}, "NPS": [99]})
    frame = pd.DataFrame(DELTA_FRAME, columns=["ID", "WAVE", "ACCOUNT", "ROLE", "RESPONDED"])
    pyreadstat.write_sav(
        frame, str(folder / "delta_frame.sav"),
        column_labels=["Contact ID", "Survey wave", "Account", "Role", "Responded"],
        variable_value_labels={"ROLE": {1.0: "Key decision maker", 2.0: "Operational",
                                        3.0: "CX team", 4.0: "Administrative"},
                               "RESPONDED": {0.0: "No", 1.0: "Yes"}})


DELIVERIES = {"acme": acme, "bolt": bolt, "cobalt": cobalt, "delta": delta}


def build(name: str, folder: Path) -> Path:
    """Write delivery ``name`` into ``folder`` (created) and return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    DELIVERIES[name](folder)
    return folder
