# Reference values for crqlab.models.invariance: measurement invariance of the
# HolzingerSwineford1939 three-factor CFA across schools (lavaan group.equal fits, lavTestLRT),
# with ML and MLR, and the partial-invariance search by largest chi-square drop.
# Run from this folder after make_lavaan.R (which writes holzinger_swineford_1939.csv):
#   Rscript make_invariance.R
# Writes invariance.json and sessionInfo_invariance.txt. Tests read these files; never call R.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})

hs <- read.csv("holzinger_swineford_1939.csv")
model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
# crqlab orders groups by sorted value; lavaan by first appearance unless group.label says
labels <- sort(unique(hs$school))

FIT <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar", "ntotal",
         "baseline.chisq", "baseline.df")
ROBUST <- c("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled",
            "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.robust")

STEPS <- list(configural = "", metric = c("loadings"),
              scalar = c("loadings", "intercepts"),
              strict = c("loadings", "intercepts", "residuals"))

export <- function(fit, call, robust) {
  pe <- parameterEstimates(fit)
  pe <- pe[, intersect(c("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue"),
                       names(pe))]
  list(call = call, converged = lavInspect(fit, "converged"), parameters = pe,
       fit = as.list(fitMeasures(fit, if (robust) c(FIT, ROBUST) else FIT)))
}

lrt <- function(fits) {
  t <- as.data.frame(do.call(lavTestLRT, unname(fits)))
  list(model = names(fits)[order(sapply(fits, function(f) fitMeasures(f, "df")))],
       chisq = t$Chisq, df = t$Df, chisq_diff = t[["Chisq diff"]], df_diff = t[["Df diff"]],
       p_value = t[["Pr(>Chisq)"]])
}

out <- list()
for (est in c("ML", "MLR")) {
  fits <- lapply(STEPS, function(eq) cfa(model, data = hs, group = "school",
                                         group.label = labels, group.equal = eq,
                                         estimator = est))
  key <- tolower(est)
  out[[key]] <- list(
    fits = mapply(function(f, nm) export(f, sprintf(
      "cfa(model, data = hs, group = 'school', group.equal = %s, estimator = '%s')",
      deparse(STEPS[[nm]]), est), est == "MLR"), fits, names(fits), SIMPLIFY = FALSE),
    lrt = lrt(fits))
  # partial scalar invariance: free each intercept in turn, record the chi-square
  # (the largest drop is freed first, then the search repeats on the rest)
  items <- paste0("x", 1:9, " ~1")
  freed <- character(0)
  steps <- list()
  for (round in 1:2) {
    trial <- sapply(setdiff(items, freed), function(it) {
      f <- cfa(model, data = hs, group = "school", group.label = labels,
               group.equal = c("loadings", "intercepts"), group.partial = c(freed, it),
               estimator = est)
      fitMeasures(f, "chisq")
    })
    names(trial) <- setdiff(items, freed)
    best <- names(trial)[which.min(trial)]
    freed <- c(freed, best)
    pf <- cfa(model, data = hs, group = "school", group.label = labels,
              group.equal = c("loadings", "intercepts"), group.partial = freed,
              estimator = est)
    steps[[round]] <- list(freed = best, chisq_by_candidate = as.list(trial),
                           fit = export(pf, sprintf("group.partial = %s", deparse(freed)),
                                        est == "MLR"),
                           lrt_vs_metric = lrt(list(metric = fits$metric, partial = pf)))
  }
  out[[key]]$partial <- steps
  # lavaan's univariate score tests of the scalar model's equality constraints (not used for
  # the search; recorded for comparison)
  sc <- lavTestScore(fits$scalar)$uni
  out[[key]]$score_uni <- as.data.frame(sc)
}
out$meta <- list(lavaan_version = as.character(packageVersion("lavaan")),
                 r_version = R.version.string, groups = labels)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "invariance.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_invariance.txt")
