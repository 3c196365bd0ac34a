# Reference values for crqlab.models.ordinal's WLSMV fits mixing continuous and ordinal
# variables, from lavaan. Run from this folder:  Rscript make_mixed.R
# Data: lavaan's HolzingerSwineford1939; x1-x3 cut into 3 equal-width ordered categories
# (cut(x, 3, labels = FALSE), as make_ordinal.R; the same values as hs3.csv), x4-x9 kept as
# measured (continuous); for the third model x8 is cut likewise (column x8_cut). Writes
# hs_mixed.csv and mixed_reference.json.
suppressMessages({library(lavaan); library(jsonlite)})

hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
cut3 <- function(x) cut(x, 3, labels = FALSE)
mix <- hs
for (v in paste0("x", 1:3)) mix[[v]] <- cut3(hs[[v]])
stopifnot(all(mix[, 1:3] == read.csv("hs3.csv")[, 1:3]))
mix8 <- mix[, paste0("x", 1:8)]
mix8$x8 <- cut3(hs$x8)
write.csv(cbind(mix, x8_cut = mix8$x8), "hs_mixed.csv", row.names = FALSE)

cfa_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
# continuous observed outcomes: x7 is predicted and predicts x8
sem_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
x7 ~ visual + textual
x8 ~ x7 + textual"

measures <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "baseline.chisq", "baseline.df",
              "baseline.chisq.scaled", "baseline.chisq.scaling.factor",
              "cfi", "tli", "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.scaled",
              "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled", "rmsea.robust",
              "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "srmr", "ntotal", "npar")

one_fit <- function(model, data, ordered) {
  fit <- sem(model, data = data, ordered = ordered, estimator = "WLSMV")
  pe <- parameterEstimates(fit, standardized = TRUE)
  keep <- pe$op != "~*~" & !(pe$op == "~1" & pe$lhs %in% c(ordered, lavNames(fit, "lv")))
  pe <- pe[keep, ]
  ss <- lavInspect(fit, "sampstat")
  fm <- fitMeasures(fit, measures)
  list(
    call = "sem(model, data, ordered = ordered, estimator = 'WLSMV')",
    ordered = ordered, observed = lavNames(fit, "ov"),
    converged = lavInspect(fit, "converged"),
    parameters = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est,
                            se = pe$se, std_all = pe$std.all),
    fit = as.list(fm),
    shift_parameter = fit@test[[2]]$shift.parameter,
    wls_obs = unname(lavInspect(fit, "wls.obs")),
    wls_obs_names = names(lavInspect(fit, "wls.obs")),
    sampstat_cov = unname(ss$cov), sampstat_mean = unname(ss$mean),
    gamma = unname(lavInspect(fit, "gamma"))
  )
}

t0 <- proc.time()
out <- list(
  source = paste("lavaan::HolzingerSwineford1939: x1-x3 cut(x, 3, labels = FALSE), x4-x9",
                 "continuous (mixed_nps: x8 cut as well)"),
  mixed_cfa = one_fit(cfa_model, mix, paste0("x", 1:3)),
  mixed_sem = one_fit(sem_model, mix[, paste0("x", 1:8)], paste0("x", 1:3)),
  # an ordinal outcome (x8, 3 categories) predicted by a continuous one (x7)
  mixed_nps = one_fit(sem_model, mix8, c(paste0("x", 1:3), "x8")),
  # the indirect effect textual -> x7 -> x8 of mixed_sem, by the delta method (:=)
  mixed_sem_indirect = {
    ind <- sem(paste("visual =~ x1 + x2 + x3", "textual =~ x4 + x5 + x6",
                     "x7 ~ visual + a * textual", "x8 ~ b * x7 + textual", "ind := a * b",
                     sep = "\n"), data = mix[, paste0("x", 1:8)],
               ordered = paste0("x", 1:3), estimator = "WLSMV")
    pe <- parameterEstimates(ind)
    list(est = pe$est[pe$op == ":="], se = pe$se[pe$op == ":="])
  }
)
out$seconds <- unname((proc.time() - t0)[3])
write_json(out, "mixed_reference.json", digits = NA, auto_unbox = TRUE, pretty = FALSE, na = "null",
           dataframe = "columns")
