# Reference values for crqlab.models.likelihood (MLR, FIML): lavaan fits exported to JSON.
# Run from this folder after make_lavaan.R (which writes holzinger_swineford_1939.csv and
# political_democracy.csv):   Rscript make_lavaan_robust.R
# Reads ../psych/bfi.csv (psych's bfi items, written by ../psych/make_psych.R).
# Writes lavaan_robust.json and sessionInfo_robust.txt. Tests read these files; never call R.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})

hs <- read.csv("holzinger_swineford_1939.csv")
pd <- read.csv("political_democracy.csv")
bfi <- read.csv("../psych/bfi.csv")

FIT_MEASURES <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower",
                  "rmsea.ci.upper", "rmsea.pvalue", "srmr", "aic", "bic", "logl",
                  "unrestricted.logl", "npar", "baseline.chisq", "baseline.df", "ntotal")
ROBUST_MEASURES <- c("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
                     "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled",
                     "tli.scaled", "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.robust",
                     "rmsea.ci.lower.robust", "rmsea.ci.upper.robust")

FIML_ROBUST <- c("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust",
                 "rmsea.ci.upper.robust")

export <- function(fit, call, robust = FALSE, extra = character(0)) {
  pe <- parameterEstimates(fit, standardized = TRUE)  # Wald CI 95%, std.all with cov.std
  pe <- pe[, intersect(c("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
                         "ci.lower", "ci.upper", "std.all"), names(pe))]
  measures <- c(if (robust) c(FIT_MEASURES, ROBUST_MEASURES) else FIT_MEASURES, extra)
  list(call = call,
       converged = lavInspect(fit, "converged"),
       options = lavInspect(fit, "options")[c("estimator", "se", "test", "information",
                                               "missing", "meanstructure")],
       parameters = pe,
       fit = as.list(fitMeasures(fit, measures)))
}

hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
pd_model <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind := a*b"
# psych's bfi: 25 Likert items (1-6), 2,800 respondents, 364 with at least one missing answer
bfi_model <- "agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
neuro =~ N1 + N2 + N3 + N4 + N5
open =~ O1 + O2 + O3 + O4 + O5"

out <- list()
# 1. MLR on complete data
out$hs_mlr <- export(cfa(hs_model, data = hs, estimator = "MLR"),
                     "cfa(hs_model, data = HolzingerSwineford1939, estimator = 'MLR')", TRUE)
out$pd_mlr <- export(sem(pd_model, data = pd, estimator = "MLR"),
                     "sem(pd_model, data = PoliticalDemocracy, estimator = 'MLR')", TRUE)
# 2. FIML on bfi, ML and MLR
out$bfi_fiml <- export(cfa(bfi_model, data = bfi, missing = "fiml"),
                       "cfa(bfi_model, data = bfi, missing = 'fiml')", extra = FIML_ROBUST)
h1 <- lavTech(cfa(bfi_model, data = bfi, missing = "fiml"), "h1")[[1]]
out$bfi_h1 <- list(mean = as.numeric(h1$mean), cov = unname(unclass(h1$cov)))
out$bfi_fiml_mlr <- export(cfa(bfi_model, data = bfi, missing = "fiml", estimator = "MLR"),
                           "cfa(bfi_model, data = bfi, missing = 'fiml', estimator = 'MLR')",
                           TRUE)
out$bfi_listwise_mlr <- export(cfa(bfi_model, data = bfi, estimator = "MLR"),
                               "cfa(bfi_model, data = bfi, estimator = 'MLR')", TRUE)

out$meta <- list(lavaan_version = as.character(packageVersion("lavaan")),
                 r_version = R.version.string)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "lavaan_robust.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_robust.txt")
