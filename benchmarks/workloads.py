"""Benchmark workloads: data preparation and one function per variant (crqlab or baseline).

Run by ``benchmarks/run.py`` as ``python workloads.py VARIANT DATA_DIR SCALE REPEAT`` in a child
process; prints one JSON line ``{"seconds": best, "note": ...}``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

N_RESPONSES = 1_000_000
N_BOOT_RESPONSES = 100_000
N_ACCOUNTS = 20_000
N_BOOT = 10_000
BASELINE_BOOT = 200  # the per-resample loop is timed on this many and scaled to N_BOOT


def prepare(data_dir: Path, scale: float) -> None:
    """Write a 1,000,000-response study (times ``scale``) as CSV and as Parquet."""
    from crqlab.data.instruments import load_instrument

    n = int(N_RESPONSES * scale)
    rng = np.random.default_rng(0)
    items = load_instrument("crq").items
    ids = np.char.add("C", np.arange(n).astype(str))
    acc = np.char.add("A", rng.integers(0, int(N_ACCOUNTS * scale) or 1, n).astype(str))
    contacts = pd.DataFrame({
        "wave": 1, "contact_id": ids, "account_id": acc,
        "role": np.array(["key decision maker", "operational", "administrative", "CX team"])[
            rng.integers(0, 4, n)],
        "responded": "true", "reminders": rng.integers(0, 3, n)})
    latent = rng.normal(0, 1, n)
    answers = np.clip(np.round(5.3 + latent[:, None] + rng.normal(0, 0.8, (n, len(items)))), 1, 7)
    responses = pd.DataFrame(answers.astype(int), columns=items)
    responses.insert(0, "contact_id", ids)
    responses.insert(0, "wave", 1)
    responses["nps"] = np.clip(np.round(7.5 + 1.8 * latent + rng.normal(0, 1, n)), 0, 10).astype(int)
    accounts = pd.DataFrame({"account_id": np.unique(acc)})
    for fmt in ("csv", "parquet"):
        folder = data_dir / fmt
        folder.mkdir()
        files = {}
        for role, frame in (("contacts", contacts), ("responses", responses),
                            ("accounts", accounts)):
            files[role] = f"{role}.{fmt}"
            if fmt == "csv":
                frame.to_csv(folder / files[role], index=False)
            else:
                frame.to_parquet(folder / files[role], index=False)
        (folder / "study.yaml").write_text(yaml.safe_dump(
            {"study": f"bench-{fmt}", "instrument": "crq", "files": files}))


N_QUALTRICS = 100_000
AGREE7 = ("Strongly disagree", "Disagree", "Somewhat disagree", "Neither agree nor disagree",
          "Somewhat agree", "Agree", "Strongly agree")
_QUALTRICS_META = ("StartDate", "EndDate", "Status", "IPAddress", "Progress",
                   "Duration (in seconds)", "Finished", "RecordedDate", "ResponseId",
                   "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                   "ExternalReference", "LocationLatitude", "LocationLongitude",
                   "DistributionChannel", "UserLanguage")


def prepare_qualtrics(data_dir: Path, scale: float) -> None:
    """The same 100,000 responses (times ``scale``) twice: as canonical CSV, and as a Qualtrics
    label export (three header rows, every field quoted, CRLF, answers as agree-7 labels and
    "0 - Not at all likely" / "10 - Extremely likely", 1% "Don't know", 17 metadata columns,
    a preview row and an unfinished response) with the study.yaml import rules that read it."""
    import csv
    import io

    from crqlab.data.instruments import load_instrument

    n = int(N_QUALTRICS * scale)
    rng = np.random.default_rng(5)
    items = load_instrument("crq").items
    ids = np.char.add("C", np.arange(n).astype(str))
    contacts = pd.DataFrame({"wave": 1, "contact_id": ids,
                             "account_id": np.char.add("A", rng.integers(0, 5000, n).astype(str)),
                             "role": "operational", "responded": "true"})
    latent = rng.normal(0, 1, n)
    answers = np.clip(np.round(5.3 + latent[:, None] + rng.normal(0, 0.8, (n, len(items)))),
                      1, 7).astype(int)
    dk = rng.random((n, len(items))) < 0.01
    nps = np.clip(np.round(7.5 + 1.8 * latent + rng.normal(0, 1, n)), 0, 10).astype(int)
    canon, qual = data_dir / "canonical_100k", data_dir / "qualtrics_100k"
    for folder in (canon, qual):
        folder.mkdir()
        contacts.to_csv(folder / "contacts.csv", index=False)
    r = pd.DataFrame(np.where(dk, "", answers.astype(str)), columns=items)
    r.insert(0, "contact_id", ids)
    r.insert(0, "wave", 1)
    r["nps"] = nps
    r.to_csv(canon / "responses.csv", index=False)
    (canon / "study.yaml").write_text(yaml.safe_dump({"study": "canonical", "files": {
        "contacts": "contacts.csv", "responses": "responses.csv"}}))
    tags = [f"Q{1 + i // 3}_{i % 3 + 1}" for i in range(len(items))]
    labels = np.where(dk, "Don't know", np.array(AGREE7, dtype=object)[answers - 1])
    nps_text = np.where(nps == 0, "0 - Not at all likely",
                        np.where(nps == 10, "10 - Extremely likely", nps.astype(str)))
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow([*_QUALTRICS_META, *tags, "Q10", "Q10_NPS_GROUP"])
    w.writerow([*_QUALTRICS_META, *(f"How far do you agree? - statement {t}" for t in tags),
                "How likely is it that you would recommend us?", "Group"])
    w.writerow([f'{{"ImportId":"{m}"}}' for m in (*_QUALTRICS_META, *tags, "QID10", "QID10g")])
    w.writerow(["2024-03-01 09:00:00", "2024-03-01 09:05:00", "Survey Preview", "", "100", "300",
                "True", "2024-03-01 09:05:00", "R_preview", "", "", "", "", "", "", "preview",
                "EN", *[AGREE7[6]] * len(items), "10 - Extremely likely", "Promoter"])
    for k in range(n):
        w.writerow(["2024-03-05 09:10:00", "2024-03-05 09:16:00", "IP Address", "203.0.113.5",
                    "100", "312", "True" if k else "False", "2024-03-05 09:16:00", f"R_{k}", "",
                    "", "", ids[k], "39.7392", "-104.9847", "email", "EN", *labels[k],
                    nps_text[k], ""])
    (qual / "CX survey 2024.csv").write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    (qual / "study.yaml").write_text(yaml.safe_dump({
        "study": "qualtrics",
        "files": {"contacts": "contacts.csv",
                  "responses": [{"file": "CX survey 2024.csv", "wave": 1}]},
        "columns": {"responses": {"contact_id": "ExternalReference", "nps": "Q10",
                                  **dict(zip(items, tags))}},
        "import": {"responses": {
            "platform": "qualtrics",
            "filters": [{"column": "Status", "drop": ["Survey Preview", "Survey Test", "Spam"],
                         "reason": "preview"},
                        {"column": "ExternalReference", "present": True,
                         "reason": "anonymous link"}],
            "complete_when": {"column": "Finished"},
            "value_labels": {"items": "agree-7", "nps": "likely-0-10"},
            "dedup": {"keep": "last", "order_by": "RecordedDate"}}}}, sort_keys=False))


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _frames(data_dir: Path) -> pd.DataFrame:
    folder = data_dir / "parquet"
    r = pd.read_parquet(folder / "responses.parquet")
    c = pd.read_parquet(folder / "contacts.parquet", columns=["wave", "contact_id", "account_id"])
    return r.merge(c, on=["wave", "contact_id"])


# --- loading ---------------------------------------------------------------------------------

def load_csv(data_dir, scale, repeat):
    from crqlab.data.study import load_study

    return _best(lambda: load_study(data_dir / "csv", cache=False), repeat), None


def load_csv_cached(data_dir, scale, repeat):
    from crqlab.data.study import load_study

    with tempfile.TemporaryDirectory() as cache:
        load_study(data_dir / "csv", cache=cache)  # validate once, write the Parquet cache
        return _best(lambda: load_study(data_dir / "csv", cache=cache), repeat), \
            "validated Parquet cache keyed by input hash"


def load_parquet(data_dir, scale, repeat):
    from crqlab.data.study import load_study

    return _best(lambda: load_study(data_dir / "parquet", cache=False), repeat), None


def _baseline_load(fmt: str):
    """pandas' reader of ``fmt`` on the three tables and a merge, with no validation."""
    read = getattr(pd, f"read_{fmt}")

    def variant(data_dir, scale, repeat):
        def run():
            c, r, _ = (read(data_dir / fmt / f"{t}.{fmt}")
                       for t in ("contacts", "responses", "accounts"))
            r.merge(c, on=["wave", "contact_id"])
        return _best(run, repeat), f"baseline: pandas read_{fmt} + merge, no validation"
    return variant


baseline_load_csv = _baseline_load("csv")
baseline_load_parquet = _baseline_load("parquet")


def _baseline_arrow_checks(fmt: str):
    """Arrow reading typed columns with the same checks as crqlab's load (types, ranges, blank
    and duplicate keys, foreign keys, responded consistency), without crqlab's messages: the
    pyarrow-with-checks comparator of issue 21."""
    def variant(data_dir, scale, repeat):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        from crqlab.data.instruments import load_instrument

        items = load_instrument("crq").items
        keys = ["wave", "contact_id"]
        types = {"contacts": {"wave": pa.int64(), "contact_id": pa.string(),
                              "account_id": pa.string(), "role": pa.string(),
                              "responded": pa.bool_(), "reminders": pa.int64()},
                 "responses": {"wave": pa.int64(), "contact_id": pa.string(),
                               **{i: pa.int64() for i in items}, "nps": pa.int64()},
                 "accounts": {"account_id": pa.string()}}

        def read(t):
            path = data_dir / fmt / f"{t}.{fmt}"
            if fmt == "csv":
                return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                    column_types=types[t]))
            table = pq.read_table(path)  # typed as written; cast (and so checked) as declared
            return pa.table({n: table[n].cast(types[t][n]) if n in types[t] else table[n]
                             for n in table.column_names})

        def run():
            c, r, a = read("contacts"), read("responses"), read("accounts")
            bad = 0
            for col, (lo, hi) in [*((i, (1, 7)) for i in items), ("nps", (0, 10))]:
                bad += pc.sum(pc.or_(pc.less(r[col], lo), pc.greater(r[col], hi))).as_py() or 0
            for t in (c, r):
                bad += sum(t[k].null_count for k in keys)
                dup = t.group_by(keys).aggregate([("wave", "count")])
                bad += pc.sum(pc.greater(dup["wave_count"], 1)).as_py() or 0
            bad += r.join(c.select(keys), keys, join_type="left anti").num_rows
            bad += c.join(a, "account_id", join_type="left anti").num_rows
            answered = c.join(r.select(keys), keys, join_type="left semi")
            bad += pc.sum(pc.invert(answered["responded"])).as_py() or 0
            return bad
        return _best(run, repeat), f"comparator: pyarrow {fmt} with the same checks"
    return variant


baseline_arrow_checks_csv = _baseline_arrow_checks("csv")
baseline_arrow_checks_parquet = _baseline_arrow_checks("parquet")


def load_qualtrics(data_dir, scale, repeat):
    from crqlab.data.study import load_study

    def run():
        s = load_study(data_dir / "qualtrics_100k", cache=False)
        assert s.partials is not None and len(s.partials) == 1
    return _best(run, repeat), ("Qualtrics label export, 3 header rows, labels, filters, "
                                "completion, dedup")


def baseline_load_canonical(data_dir, scale, repeat):
    from crqlab.data.study import load_study

    return _best(lambda: load_study(data_dir / "canonical_100k", cache=False), repeat), \
        "baseline: crqlab loading the same responses as canonical CSV"


# --- scoring ---------------------------------------------------------------------------------

def score(data_dir, scale, repeat):
    from crqlab.data.instruments import load_instrument
    from crqlab.measures.nps import nps_by
    from crqlab.measures.scoring import score_items

    df = _frames(data_dir)
    crq = load_instrument("crq")

    def run():
        s = score_items(df, crq)
        s["account_id"] = df["account_id"].to_numpy()
        s.groupby("account_id", sort=False).mean()
        nps_by(df, "account_id")
    return _best(run, repeat), "six elements + CRQ index per respondent, means and NPS by account"


def baseline_score(data_dir, scale, repeat):
    from crqlab.data.instruments import load_instrument

    df = _frames(data_dir)
    crq = load_instrument("crq")

    def nps_of(g):
        x = g.dropna()
        return 100 * ((x >= 9).mean() - (x <= 6).mean())

    def run():
        s = pd.DataFrame({name: df[list(el.items)].astype(float).mean(axis=1)
                          for name, el in crq.elements.items()})
        s["crq_index"] = s.mean(axis=1)
        s["account_id"] = df["account_id"]
        s.groupby("account_id").apply(lambda g: g.mean(numeric_only=True))
        df.groupby("account_id")["nps"].apply(nps_of)
    return _best(run, repeat), "baseline: row means + groupby/apply"


# --- bootstrap -------------------------------------------------------------------------------

def _boot_data(n_accounts: int):
    """100,000 answers in ``n_accounts`` accounts (20 or 5 respondents per account)."""
    rng = np.random.default_rng(7)
    x = np.clip(np.round(7.5 + 2 * rng.standard_normal(N_BOOT_RESPONSES)), 0, 10)
    return x, rng.integers(0, n_accounts, N_BOOT_RESPONSES)


def _bootstrap(n_accounts):
    def crqlab_variant(data_dir, scale, repeat):
        from crqlab.measures.nps import nps_bootstrap

        x, cl = _boot_data(n_accounts)
        return _best(lambda: nps_bootstrap(x, cl, n_boot=N_BOOT, seed=1), repeat), \
            f"{N_BOOT} account-cluster resamples, {len(x)} responses, {n_accounts} accounts"

    def baseline_variant(data_dir, scale, repeat):
        x, cl = _boot_data(n_accounts)
        frame = pd.DataFrame({"nps": x, "account_id": cl})
        groups = [g["nps"].to_numpy() for _, g in frame.groupby("account_id")]
        rng = np.random.default_rng(1)

        def run():
            for _ in range(BASELINE_BOOT):
                pick = rng.integers(0, len(groups), len(groups))
                y = np.concatenate([groups[i] for i in pick])
                100 * ((y >= 9).mean() - (y <= 6).mean())
        secs = _best(run, 1) * N_BOOT / BASELINE_BOOT
        return secs, (f"baseline: per-resample loop, {BASELINE_BOOT} resamples timed, "
                      f"scaled to {N_BOOT}")
    return crqlab_variant, baseline_variant


for _k in (5000, 20000):
    globals()[f"bootstrap_{_k}"], globals()[f"baseline_bootstrap_{_k}"] = _bootstrap(_k)


# --- SEM -------------------------------------------------------------------------------------

def _sem(n: int):
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_sem

    from crqlab.models.sem import kmv_crq_model

    model = kmv_crq_model()
    return model, bench_sem._simulate(model, n)


def _sem_fit(n):
    def crqlab_variant(data_dir, scale, repeat):
        from crqlab.models.sem import fit_sem

        model, data = _sem(n)
        fit_sem(model, data)  # warm-up: semopy's import and first compile
        return _best(lambda: fit_sem(model, data), repeat), \
            f"KMV (CRQ form), N = {n}: lavaan-conventions ML fit with the convergence guard"

    def baseline_variant(data_dir, scale, repeat):
        import semopy

        model, data = _sem(n)
        cols = [c for c in data.columns if c in model.syntax]

        def run():
            m = semopy.Model(model.syntax)
            m.fit(data[cols].astype(float))
        run()
        return _best(run, repeat), "baseline: bare semopy Model.fit (its defaults), same data"
    return crqlab_variant, baseline_variant


for _n in (200, 2000, 20000):
    globals()[f"sem_fit_{_n}"], globals()[f"baseline_sem_fit_{_n}"] = _sem_fit(_n)


class Skipped(Exception):
    """A comparator that is not installed here: the row says so instead of a time."""


_LAVAAN_SCRIPT = r"""
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
model <- paste(readLines(args[2]), collapse = "\n")
repeats <- as.integer(args[3])
fit <- sem(model, data = data)  # warm-up: lavaan's first call compiles its own code
best <- Inf
for (i in seq_len(repeats)) {
  t <- system.time(fit <- sem(model, data = data))[["elapsed"]]
  best <- min(best, t)
}
cat(sprintf("%.9f %.10f %s\n", best, fitMeasures(fit, "chisq"),
            as.character(packageVersion("lavaan"))))
"""


def _lavaan_fit(n):
    def variant(data_dir, scale, repeat):
        """R lavaan's ``sem()`` on the same data and syntax (timed inside R, best of
        ``repeat`` after a warm-up), its chi-square beside crqlab's in the note."""
        from crqlab.models.sem import fit_sem

        rscript = shutil.which("Rscript")
        if rscript is None:
            raise Skipped("R is not installed (Rscript not found): no lavaan comparator")
        model, data = _sem(n)
        cols = [c for c in data.columns if c in model.syntax]
        work = Path(tempfile.mkdtemp())
        try:
            data[cols].astype(float).to_csv(work / "data.csv", index=False)
            (work / "model.lav").write_text(model.syntax, encoding="utf-8")
            (work / "fit.R").write_text(_LAVAAN_SCRIPT, encoding="utf-8")
            proc = subprocess.run([rscript, str(work / "fit.R"), str(work / "data.csv"),
                                   str(work / "model.lav"), str(repeat)],
                                  capture_output=True, text=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if proc.returncode != 0:
            if "lavaan" in proc.stderr and "there is no package" in proc.stderr:
                raise Skipped("R has no lavaan package: no lavaan comparator")
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        secs, chisq, version = proc.stdout.split()
        ours = fit_sem(model, data).fit_measures["chisq"]
        return float(secs), (f"comparator: R lavaan {version} sem(), same data and syntax; "
                             f"chi-square lavaan {float(chisq):.8f}, crqlab {ours:.8f}")
    return variant


for _n in (2000, 20000):
    globals()[f"lavaan_sem_fit_{_n}"] = _lavaan_fit(_n)

SEM_BOOT = 100


def sem_bootstrap(data_dir, scale, repeat):
    from crqlab.models.sem import bootstrap_sem, fit_sem

    model, data = _sem(2000)
    fit = fit_sem(model, data)
    t = time.perf_counter()
    bootstrap_sem(fit, cluster="account_id", n_boot=SEM_BOOT, seed=1)
    return time.perf_counter() - t, f"{SEM_BOOT} account-cluster resamples, N = 2000"


def baseline_sem_bootstrap(data_dir, scale, repeat):
    import semopy

    model, data = _sem(2000)
    cols = [c for c in data.columns if c in model.syntax]
    groups = {k: g[cols].astype(float) for k, g in data.groupby("account_id")}
    keys = list(groups)
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    for _ in range(SEM_BOOT):
        pick = rng.integers(0, len(keys), len(keys))
        m = semopy.Model(model.syntax)
        m.fit(pd.concat([groups[keys[i]] for i in pick], ignore_index=True))
    return time.perf_counter() - t, "baseline: loop of bare semopy refits on resampled accounts"


# --- verbatim scrubbing ----------------------------------------------------------------------

N_CONTACTS = 10_000
N_COMMENTS = 100_000
_FIRST = ("Alex", "Blair", "Casey", "Dana", "José", "Jürgen", "Anna", "Mark", "Lena", "Omar",
          "Priya", "Chen", "Sofia", "Lars", "Maria", "Ivan", "Ngozi", "Tom", "Eva", "Yusuf")
_SYLLABLES = ("ka", "ren", "vo", "lin", "mar", "tes", "do", "bri", "sel", "han", "qua", "zor",
              "pel", "tu", "wick", "ston", "ley", "ford", "ber", "gil")
_WORDS = ("the", "service", "desk", "was", "slow", "but", "our", "account", "manager", "helped",
          "a", "lot", "with", "renewal", "and", "price", "of", "support")


def _scrub_data(scale: float):
    """``N_CONTACTS`` contacts (name and e-mail) and ``N_COMMENTS`` comments (times ``scale``);
    every tenth comment names a contact in one of four forms."""
    rng = np.random.default_rng(3)
    n, m = max(int(N_CONTACTS * scale), 10), max(int(N_COMMENTS * scale), 10)
    last = ["".join(rng.choice(_SYLLABLES, rng.integers(2, 4))).capitalize() for _ in range(n)]
    first = rng.choice(_FIRST, n)
    names = [f"{f} {s}" for f, s in zip(first, last)]
    emails = [f"{f.lower()}.{s.lower()}{i}@client{i % 50}.example.com"
              for i, (f, s) in enumerate(zip(first, last))]
    forms = (lambda i: names[i], lambda i: f"{last[i]}, {first[i]}",
             lambda i: f"{first[i]}\u200b{last[i]}", lambda i: emails[i].replace("@", " at "))
    texts = [" ".join(rng.choice(_WORDS, 20))
             + (f" ask {forms[(k // 10) % 4](k % n)}" if k % 10 == 0 else "") for k in range(m)]
    return names + emails, pd.DataFrame({"weaknesses": texts})


def scrub(data_dir, scale, repeat):
    from crqlab.data.nameforms import identity_matcher
    from crqlab.data.privacy import safe_verbatims

    people, comments = _scrub_data(scale)
    def run():
        identity_matcher.cache_clear()  # every repeat builds the forms of every contact again
        safe_verbatims(comments, "weaknesses", names=people)
    return _best(run, repeat), (f"safe_verbatims: {len(people) // 2} contacts (name + e-mail, "
                                f"every form), {len(comments)} comments, build + scrub")


BASELINE_COMMENTS = 1000  # the alternation is timed on this many comments and scaled up


def baseline_scrub(data_dir, scale, repeat):
    import re

    people, comments = _scrub_data(scale)
    sample = comments["weaknesses"].iloc[:BASELINE_COMMENTS]

    def run():
        pattern = re.compile("|".join(map(re.escape, sorted(people, key=len, reverse=True))),
                             flags=re.IGNORECASE)
        sample.map(lambda t: pattern.sub("[name removed]", t))
    secs = _best(run, 1) * len(comments) / len(sample)
    return secs, ("baseline: one case-insensitive alternation of the names and e-mails as "
                  "written (the previous scrubber, no other forms), timed on "
                  f"{len(sample)} comments and scaled to {len(comments)}")


# --- crqlab run ------------------------------------------------------------------------------

FLOOR_IMPORTS = ("import crqlab, crqlab.data.study, crqlab.measures.scoring, crqlab.measures.nps, crqlab.reports.results\n"
                 "import numpy, pandas, scipy.stats, statsmodels.api, pingouin, semopy\n"
                 "import matplotlib.pyplot as plt, seaborn")


def _floor_notebooks(folder: Path, n: int) -> None:
    """``n`` trivial notebooks with the study notebooks' parameters cell and imports."""
    import nbformat

    for i in range(n):
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell(
            'study_dir: str = "../data/raw/sample"  # study folder\n'
            'results_path: str = ""  # where results.json goes')
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(FLOOR_IMPORTS)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, folder / f"{i:02d}_floor.ipynb")


def run_sample(data_dir, scale, repeat):
    from crqlab.paths import SAMPLE_STUDY
    from crqlab.reports.runner import run

    out = Path(tempfile.mkdtemp())
    try:
        t = time.perf_counter()
        result = run(SAMPLE_STUDY, out=out / "r", progress=False)
        secs = time.perf_counter() - t
        if not result.ok:
            raise RuntimeError(f"{len(result.failed)} notebook(s) failed")
        return secs, f"crqlab run data/raw/sample: {len(result.outcomes)} notebooks, default jobs"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_sample_cold(data_dir, scale, repeat):
    """``crqlab run --cold``: a new kernel per notebook (the comparator of the warm kernels)."""
    from crqlab.paths import SAMPLE_STUDY
    from crqlab.reports.runner import run

    out = Path(tempfile.mkdtemp())
    try:
        t = time.perf_counter()
        result = run(SAMPLE_STUDY, out=out / "r", progress=False, cold=True)
        secs = time.perf_counter() - t
        if not result.ok:
            raise RuntimeError(f"{len(result.failed)} notebook(s) failed")
        return secs, "cold: crqlab run --cold, a new kernel per notebook"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def baseline_run_floor(data_dir, scale, repeat):
    from crqlab.paths import NOTEBOOKS_DIR, SAMPLE_STUDY
    from crqlab.reports.runner import discover_notebooks, run

    n = len(discover_notebooks(NOTEBOOKS_DIR))
    work = Path(tempfile.mkdtemp())
    try:
        (work / "nb").mkdir()
        _floor_notebooks(work / "nb", n)
        t = time.perf_counter()
        run(SAMPLE_STUDY, out=work / "r", notebooks_dir=work / "nb", progress=False)
        return time.perf_counter() - t, \
            f"floor: {n} trivial notebooks importing the same libraries, same runner and jobs"
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    variant, data_dir, scale, repeat = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), \
        int(sys.argv[4])
    if variant == "prepare":
        prepare(data_dir, scale)
        prepare_qualtrics(data_dir, scale)
        sys.exit(0)
    try:
        seconds, note = globals()[variant](data_dir, scale, repeat)
    except Skipped as why:
        print(json.dumps({"skipped": str(why)}))
        sys.exit(0)
    print(json.dumps({"seconds": seconds, "note": note}))
