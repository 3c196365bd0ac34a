# Reference values for crqlab.models.sem's lavaan conveniences: std.lv identification, equality
# labels, := defined parameters (delta-method SEs) and single-indicator factors (residual
# variance fixed at 0 automatically, lavaan's auto.fix.single).
# Run from this folder after make_lavaan.R (which writes holzinger_swineford_1939.csv and
# political_democracy.csv):   Rscript make_lavaan_syntax.R
# Writes lavaan_syntax.json and sessionInfo_syntax.txt. Tests read these files; never call R.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})

hs <- read.csv("holzinger_swineford_1939.csv")
pd <- read.csv("political_democracy.csv")

FIT_MEASURES <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar", "ntotal")

export <- function(fit, call) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[, intersect(c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue",
                         "ci.lower", "ci.upper", "std.all"), names(pe))]
  list(call = call, converged = lavInspect(fit, "converged"), parameters = pe,
       fit = as.list(fitMeasures(fit, FIT_MEASURES)))
}

hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
hs_labels <- "visual =~ x1 + a*x2 + a*x3
textual =~ x4 + b*x5 + b*x6
speed =~ x7 + x8 + x9"
# a label on the marker: lavaan fixes x1 at 1 and, through the label, x2 too
hs_marker_label <- "visual =~ a*x1 + a*x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
hs_single <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7"
pd_defined <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind := a*b
total := c + a*b
ratio := a*b / (c + a*b)"
pd_single <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
gnp =~ x1b
dem60 ~ a*ind60
gnp ~ b*dem60
ab := a*b"
pd2 <- pd
# ordinal items (3 categories, ../ordinal/hs3.csv from make_ordinal.R): WLSMV with := and std.lv
hs3 <- read.csv("../ordinal/hs3.csv")
hs3_defined <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ a*visual
speed ~ b*textual + visual
ab := a*b"
pd2$x1b <- pd$y5  # a single indicator with another name (y5, the 1965 press freedom)

out <- list()
out$hs_stdlv <- export(cfa(hs_model, data = hs, std.lv = TRUE),
                       "cfa(hs_model, data = HolzingerSwineford1939, std.lv = TRUE)")
out$hs_labels <- export(cfa(hs_labels, data = hs), "cfa(hs_labels, data = HolzingerSwineford1939)")
out$hs_marker_label <- export(cfa(hs_marker_label, data = hs),
                              "cfa(hs_marker_label, data = HolzingerSwineford1939)")
out$hs_single <- export(cfa(hs_single, data = hs), "cfa(hs_single, data = HolzingerSwineford1939)")
out$pd_defined <- export(sem(pd_defined, data = pd), "sem(pd_defined, data = PoliticalDemocracy)")
out$pd_defined_mlr <- export(sem(pd_defined, data = pd, estimator = "MLR"),
                             "sem(pd_defined, data = PoliticalDemocracy, estimator = 'MLR')")
out$pd_stdlv <- export(sem(pd_defined, data = pd, std.lv = TRUE),
                       "sem(pd_defined, data = PoliticalDemocracy, std.lv = TRUE)")
out$pd_single <- export(sem(pd_single, data = pd2),
                        "sem(pd_single, data = PoliticalDemocracy with x1b = y5)")
out$hs3_wlsmv_defined <- export(sem(hs3_defined, data = hs3, ordered = TRUE,
                                     estimator = "WLSMV"),
                                 "sem(hs3_defined, data = hs3, ordered = TRUE, estimator = 'WLSMV')")
out$hs3_wlsmv_stdlv <- export(sem(hs3_defined, data = hs3, ordered = TRUE, estimator = "WLSMV",
                                  std.lv = TRUE),
                              "sem(hs3_defined, data = hs3, ordered = TRUE, estimator = 'WLSMV', std.lv = TRUE)")
out$meta <- list(lavaan_version = as.character(packageVersion("lavaan")),
                 r_version = R.version.string)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "lavaan_syntax.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_syntax.txt")
