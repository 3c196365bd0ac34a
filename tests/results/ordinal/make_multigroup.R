# Reference values for WLSMV across several groups and the invariance of ordinal items
# (crqlab.models.ordinal.fit_wlsmv_multigroup, crqlab.models.invariance with
# estimator = "WLSMV"), from lavaan 0.6-14.
# Run from this folder:  Rscript make_multigroup.R
# Data: lavaan's HolzingerSwineford1939, x1-x9 cut into 3 ordered categories on the whole
# sample exactly as make_ordinal.R cuts them (cut(x, 3, labels = FALSE)), grouped by school;
# groups in sorted order (group.label), as crqlab orders them. Writes hs3_school.csv,
# multigroup_reference.json and sessionInfo_multigroup.txt. Tests never call R.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})

hs <- HolzingerSwineford1939
hs3 <- as.data.frame(lapply(hs[, paste0("x", 1:9)], cut, 3, labels = FALSE))
hs3$school <- hs$school
write.csv(hs3, "hs3_school.csv", row.names = FALSE)
labels <- sort(unique(hs3$school))
model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

measures <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "chisq.shift.parameter", "baseline.chisq",
              "baseline.df", "baseline.chisq.scaled", "baseline.chisq.scaling.factor",
              "cfi", "tli", "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.scaled",
              "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled", "rmsea.robust", "srmr",
              "ntotal", "npar", "fmin")

# the models: lavaan's group.equal words; with ordered items and the delta
# parameterisation lavaan frees the scaling factors (~*~) and latent means from group 2 on
# once thresholds are equal; "intercepts" and "residuals" change nothing here (the
# intercepts are fixed at 0, the residual variances are not parameters)
EQUAL <- list(configural = "", thresholds = "thresholds", loadings = "loadings",
              scalar = c("thresholds", "loadings"))
fit_one <- function(eq, partial = character(0)) {
  cfa(model, data = hs3, ordered = TRUE, estimator = "WLSMV", group = "school",
      group.label = labels, group.equal = eq, group.partial = partial)
}
export <- function(fit, eq, partial = character(0)) {
  pe <- parameterEstimates(fit)
  pt <- parTable(fit)
  list(call = sprintf(paste0("cfa(model, hs3, ordered = TRUE, estimator = 'WLSMV', ",
                             "group = 'school', group.equal = %s, group.partial = %s)"),
                      deparse(eq), deparse(partial)),
       converged = lavInspect(fit, "converged"),
       parameters = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group,
                               est = pe$est, se = pe$se, free = pt$free[match(
                                 paste(pe$lhs, pe$op, pe$rhs, pe$group),
                                 paste(pt$lhs, pt$op, pt$rhs, pt$group))]),
       fit = as.list(fitMeasures(fit, measures)),
       stat_group = fit@test[[1]]$stat.group,
       shift_parameter = fit@test[[2]]$shift.parameter,
       gamma_diag = lapply(lavInspect(fit, "gamma"), function(g) unname(diag(g))),
       thresholds = lapply(lavInspect(fit, "sampstat"), function(s) unname(s$th)),
       polychoric = lapply(lavInspect(fit, "sampstat"), function(s) unname(s$cov)))
}
# lavTestLRT's default for WLSMV fits: method = "satorra.2000", scaled.shifted = TRUE
lrt <- function(m1, m0) {
  t <- as.data.frame(lavTestLRT(m1, m0))
  d <- lavaan:::lav_test_diff_Satorra2000(m1, m0, H1 = TRUE, A.method = "delta",
                                          Satterthwaite = TRUE, scaled.shifted = TRUE)
  list(chisq_diff = t[["Chisq diff"]][2], df_diff = t[["Df diff"]][2],
       p_value = t[["Pr(>Chisq)"]][2], a = d$a, b = d$b,
       trace_ugamma = d$trace.UGamma, trace_ugamma2 = d$trace.UGamma2)
}

t0 <- proc.time()
fits <- lapply(EQUAL, fit_one)
partial <- c("x3|t1", "x3|t2")
fit_partial <- fit_one(EQUAL$scalar, partial)
out <- list(
  source = paste("lavaan::HolzingerSwineford1939 x1-x9 cut(x, 3, labels = FALSE),",
                 "grouped by school (group.label sorted)"),
  model = model,
  fits = mapply(export, fits, EQUAL, SIMPLIFY = FALSE),
  partial = c(export(fit_partial, EQUAL$scalar, partial), list(group_partial = partial)),
  lrt = list(thresholds_vs_configural = lrt(fits$configural, fits$thresholds),
             loadings_vs_configural = lrt(fits$configural, fits$loadings),
             scalar_vs_configural = lrt(fits$configural, fits$scalar),
             scalar_vs_thresholds = lrt(fits$thresholds, fits$scalar),
             scalar_vs_partial = lrt(fit_partial, fits$scalar),
             partial_vs_configural = lrt(fits$configural, fit_partial)),
  # the partial search's first round on the scalar step: free each threshold and loading
  # that the step made equal, one at a time; crqlab frees the one with the lowest chi-square
  search = {
    cand <- c(paste0("x", 1:9, "|t1"), paste0("x", 1:9, "|t2"),
              "visual=~x2", "visual=~x3", "textual=~x5", "textual=~x6", "speed=~x8",
              "speed=~x9")
    chisq <- sapply(cand, function(cd) fitMeasures(fit_one(EQUAL$scalar, cd), "chisq"))
    best <- fit_one(EQUAL$scalar, cand[which.min(chisq)])
    list(candidates = cand, chisq = unname(chisq), freed = cand[which.min(chisq)],
         best_fit = as.list(fitMeasures(best, measures)),
         lrt_vs_configural = lrt(fits$configural, best))
  },
  seconds = unname((proc.time() - t0)[3]))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "multigroup_reference.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_multigroup.txt")
