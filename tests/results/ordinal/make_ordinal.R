# Reference values for crqlab.models.ordinal (WLSMV on polychoric correlations), from lavaan.
# Run from this folder:  Rscript make_ordinal.R
# Data: lavaan's HolzingerSwineford1939 (x1-x9 cut into 3 equal-width ordered categories with
# cut(x, 3, labels = FALSE), as lavaan's documentation cuts them) and psych's bfi (25 items,
# 1-6 Likert answers, listwise complete rows). Writes hs3.csv, ordinal_reference.json and
# sessionInfo.txt.
suppressMessages({library(lavaan); library(psych); library(polycor); library(jsonlite)})

hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
hs3 <- as.data.frame(lapply(hs, cut, 3, labels = FALSE))
write.csv(hs3, "hs3.csv", row.names = FALSE)

hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
bfi_items <- colnames(bfi)[1:25]
bfi25 <- na.omit(bfi[, bfi_items])
bfi_model <- "agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
neuro =~ N1 + N2 + N3 + N4 + N5
open =~ O1 + O2 + O3 + O4 + O5"
# a structural model on the HS items: textual and speed regressed on visual
hs_sem <- paste(hs_model, "textual ~ visual\nspeed ~ visual + textual", sep = "\n")
# observed ordinal outcomes in regressions: x7 is predicted and predicts x8
hs_obs <- "visual =~ x1 + x2 + x3
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

one_fit <- function(model, data, sem = FALSE) {
  fit <- if (sem) sem(model, data = data, ordered = TRUE, estimator = "WLSMV")
         else cfa(model, data = data, ordered = TRUE, estimator = "WLSMV")
  pe <- parameterEstimates(fit, standardized = TRUE)
  shift <- fit@test[[2]]$shift.parameter
  ss <- lavInspect(fit, "sampstat")
  list(
    call = paste0(if (sem) "sem" else "cfa",
                  "(model, data, ordered = TRUE, estimator = 'WLSMV')"),
    converged = lavInspect(fit, "converged"),
    parameters = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est,
                            se = pe$se, std_all = pe$std.all),
    fit = as.list(fitMeasures(fit, measures)),
    shift_parameter = shift,
    fmin = unname(fitMeasures(fit, "fmin")),
    polychoric = unname(ss$cov), thresholds = unname(ss$th),
    gamma_diag = unname(diag(lavInspect(fit, "gamma"))),
    wls_v_diag = unname(diag(lavInspect(fit, "wls.v"))),
    gamma = if (ncol(data) <= 9) unname(lavInspect(fit, "gamma")) else NULL
  )
}

t0 <- proc.time()
out <- list(
  source = paste("lavaan::HolzingerSwineford1939 x1-x9 cut(x, 3, labels = FALSE);",
                 "psych::bfi items A1-O5, na.omit"),
  hs_cfa = one_fit(hs_model, hs3),
  hs_sem = one_fit(hs_sem, hs3, sem = TRUE),
  hs_obs = one_fit(hs_obs, hs3[, paste0("x", 1:8)], sem = TRUE),
  bfi_cfa = one_fit(bfi_model, bfi25),
  bfi_n = nrow(bfi25),
  # two-step polychoric correlations of single pairs (polycor's ML = FALSE is two-step)
  polycor_hs_x1_x2 = polychor(hs3$x1, hs3$x2, ML = FALSE, std.err = TRUE)$rho,
  polycor_bfi_A1_A2 = polychor(bfi25$A1, bfi25$A2, ML = FALSE),
  polycor_bfi_C4_E1 = polychor(bfi25$C4, bfi25$E1, ML = FALSE),
  lavcor_hs = unname(lavCor(hs3, ordered = names(hs3))),
  # the indirect effect visual -> textual -> speed of hs_sem, by the delta method (:=)
  hs_sem_indirect = {
    ind <- sem(paste(hs_model, "textual ~ a * visual\nspeed ~ visual + b * textual",
                     "ind := a * b", sep = "\n"), data = hs3, ordered = TRUE,
               estimator = "WLSMV")
    pe <- parameterEstimates(ind)
    list(est = pe$est[pe$op == ":="], se = pe$se[pe$op == ":="])
  }
)
out$seconds <- unname((proc.time() - t0)[3])
write_json(out, "ordinal_reference.json", digits = NA, auto_unbox = TRUE, pretty = FALSE,
           dataframe = "columns")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
