# Reference values for crqlab.models.weighting.weighted_mean with strata and clusters, from R
# survey. Run from this folder:  Rscript make_survey_strata.R
# Data: the `api` data shipped with the R survey package (California Academic Performance
# Index, data(api)); apistrat.csv is exported from it here (columns the tests need).
# Writes apistrat.csv, survey_strata.json and sessionInfo_strata.txt.
suppressMessages(library(survey))
library(jsonlite)

data(api)
one <- function(design, var = "api00") {
  m <- svymean(as.formula(paste0("~", var)), design)
  list(mean = unname(coef(m)), se = as.numeric(SE(m)))
}

# 1. stratified simple random sample, finite population correction (the ?svydesign example)
dstrat <- svydesign(id = ~1, strata = ~stype, fpc = ~fpc, data = apistrat)
# 2. the same strata, weights only (with-replacement variance, no fpc)
dstrat_w <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
# 3. one-stage cluster sample of school districts, with and without fpc
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
dclus1_w <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
# 4. strata and clusters: districts nested in school types (apistrat), weights only
dstrat_clus <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, data = apistrat,
                         nest = TRUE)

write.csv(apistrat[, c("snum", "dnum", "stype", "pw", "fpc", "api00", "api99")],
          "apistrat.csv", row.names = FALSE)

out <- list(
  source = "R survey package, data(api): apistrat and apiclus1",
  strat_fpc = list(call = "svydesign(id=~1, strata=~stype, fpc=~fpc, data=apistrat)",
                   api00 = one(dstrat), api99 = one(dstrat, "api99"),
                   weights_are = "fpc / n per stratum (svydesign without weights=)"),
  strat_weights = list(call = "svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat)",
                       api00 = one(dstrat_w)),
  clus1_fpc = list(call = "svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)",
                   api00 = one(dclus1)),
  clus1_weights = list(call = "svydesign(id=~dnum, weights=~pw, data=apiclus1)",
                       api00 = one(dclus1_w)),
  strat_clus = list(call = paste("svydesign(id=~dnum, strata=~stype, weights=~pw,",
                                 "data=apistrat, nest=TRUE)"),
                    api00 = one(dstrat_clus), api99 = one(dstrat_clus, "api99"))
)
write_json(out, "survey_strata.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
writeLines(capture.output(sessionInfo()), "sessionInfo_strata.txt")
