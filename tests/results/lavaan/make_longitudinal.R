# Reference values for crqlab.models.longitudinal: longitudinal measurement invariance of
# democracy in 1960 and 1965 (PoliticalDemocracy: y1-y4 in 1960, y5-y8 the same four
# indicators in 1965), one single-group CFA with the residuals of each indicator correlated
# across the two occasions, marker identification, a mean structure; the equality constraints
# across occasions written by hand as labels (semTools is not installed):
#   configural  nothing equal; latent means fixed at 0
#   metric      loadings equal (labels l2-l4; the markers are fixed at 1)
#   scalar      + intercepts equal (labels i1-i4); the 1965 latent mean free
#   strict      + residual variances equal (labels r1-r4)
# ML and MLR (complete data), lavTestLRT between the steps, the partial search (free the
# constraint whose release lowers the chi-square most) and FIML (missing = "ml", ML and MLR)
# on a copy with some respondents missing one occasion (longitudinal_missing.csv, written here).
# Run from this folder after make_lavaan.R (which writes political_democracy.csv):
#   Rscript make_longitudinal.R
# Writes longitudinal.json, longitudinal_missing.csv and sessionInfo_longitudinal.txt.
# Tests read these files; never call R.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})

pd <- read.csv("political_democracy.csv")
items <- 1:4  # y{i} in 1960, y{i + 4} in 1965

syntax <- function(equal = character(0), free = character(0)) {
  # free: constraints exempt, as crqlab names them: "y2 =~" loading, "y2 ~1" intercept,
  # "y2 ~~" residual variance (the 1960 name stands for the pair)
  lab <- function(kind, i, prefix) {
    if (kind %in% equal && !(sprintf("y%d %s", i, c(loadings = "=~", intercepts = "~1",
                                                      residuals = "~~")[[kind]]) %in% free))
      sprintf("%s%d*", prefix, i) else ""
  }
  load <- function(f, off) paste0(f, " =~ y", 1 + off, " + ",
    paste(sapply(2:4, function(i) paste0(lab("loadings", i, "l"), "y", i + off)),
          collapse = " + "))
  lines <- c(load("dem60", 0), load("dem65", 4),
             sprintf("y%d ~~ y%d", items, items + 4))
  if ("intercepts" %in% equal) {
    lines <- c(lines, sprintf("y%d ~ %s1", c(items, items + 4),
                              rep(sapply(items, function(i) lab("intercepts", i, "i")), 2)),
               "dem60 ~ 0*1", "dem65 ~ 1")
  }
  if ("residuals" %in% equal) {
    lines <- c(lines, sprintf("y%d ~~ %sy%d", c(items, items + 4),
                              rep(sapply(items, function(i) lab("residuals", i, "r")), 2),
                              c(items, items + 4)))
  }
  paste(lines, collapse = "\n")
}

STEPS <- list(configural = character(0), metric = c("loadings"),
              scalar = c("loadings", "intercepts"),
              strict = c("loadings", "intercepts", "residuals"))
FIT <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar", "ntotal",
         "baseline.chisq", "baseline.df", "logl", "aic", "bic")
ROBUST <- c("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled",
            "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.robust")

fit1 <- function(model, est, data = pd, missing = "listwise")
  cfa(model, data = data, meanstructure = TRUE, estimator = est, missing = missing)

export <- function(fit, model, robust) {
  pe <- parameterEstimates(fit)
  pe <- pe[, intersect(c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue"), names(pe))]
  list(syntax = model, converged = lavInspect(fit, "converged"), parameters = pe,
       fit = as.list(fitMeasures(fit, if (robust) c(FIT, ROBUST) else FIT)))
}

lrt <- function(fits) {
  t <- as.data.frame(do.call(lavTestLRT, unname(fits)))
  list(model = names(fits)[order(sapply(fits, function(f) fitMeasures(f, "df")))],
       chisq = t$Chisq, df = t$Df, chisq_diff = t[["Chisq diff"]], df_diff = t[["Df diff"]],
       p_value = t[["Pr(>Chisq)"]])
}

CANDIDATES <- list(metric = sprintf("y%d =~", 2:4), scalar = sprintf("y%d ~1", items),
                   strict = sprintf("y%d ~~", items))

ladder <- function(est, data = pd, missing = "listwise") {
  models <- lapply(STEPS, syntax)
  fits <- lapply(models, fit1, est = est, data = data, missing = missing)
  res <- list(fits = mapply(function(f, m) export(f, m, est == "MLR"), fits, models,
                            SIMPLIFY = FALSE),
              lrt = lrt(fits))
  # the partial search at each step: every candidate's chi-square, two rounds, each step
  # against the full model of the step before (as if that step held)
  prev <- list(metric = "configural", scalar = "metric", strict = "scalar")
  res$partial <- lapply(names(CANDIDATES), function(step) {
    freed <- character(0)
    rounds <- list()
    for (round in 1:2) {
      cand <- setdiff(CANDIDATES[[step]], freed)
      trial <- sapply(cand, function(cd) fitMeasures(
        fit1(syntax(STEPS[[step]], c(freed, cd)), est, data, missing), "chisq"))
      names(trial) <- cand
      best <- names(trial)[which.min(trial)]
      freed <- c(freed, best)
      m <- syntax(STEPS[[step]], freed)
      pf <- fit1(m, est, data, missing)
      rounds[[round]] <- list(freed = best, chisq_by_candidate = as.list(trial),
                              fit = export(pf, m, est == "MLR"),
                              lrt_vs_previous = lrt(list(previous = fits[[prev[[step]]]],
                                                         partial = pf)))
    }
    rounds
  })
  names(res$partial) <- names(CANDIDATES)
  res
}

out <- list(ml = ladder("ML"), mlr = ladder("MLR"))

# FIML: every 5th respondent without the 1965 answers, every 10th from the 3rd without 1960
miss <- pd[, paste0("y", 1:8)]
miss[seq(1, nrow(miss), by = 5), paste0("y", 5:8)] <- NA
miss[seq(3, nrow(miss), by = 10), paste0("y", 1:4)] <- NA
miss[seq(2, nrow(miss), by = 15), "y6"] <- NA
write.csv(miss, "longitudinal_missing.csv", row.names = FALSE, na = "")
fiml <- function(est) {
  models <- lapply(STEPS, syntax)
  fits <- lapply(models, fit1, est = est, data = miss, missing = "ml")
  list(fits = mapply(function(f, m) export(f, m, est == "MLR"), fits, models,
                     SIMPLIFY = FALSE), lrt = lrt(fits))
}
out$fiml_ml <- fiml("ML")
out$fiml_mlr <- fiml("MLR")
out$meta <- list(lavaan_version = as.character(packageVersion("lavaan")),
                 r_version = R.version.string, n = nrow(pd), n_missing_data = nrow(miss))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "longitudinal.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_longitudinal.txt")
