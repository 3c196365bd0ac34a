# Reference values for crqlab.models.bias.dr_difference_in_differences (the doubly robust,
# augmented-IPW difference in differences of Sant'Anna & Zhao 2020 for panel data), computed
# by hand from glm() and lm() on the panel fixture that make_bias.R wrote.
# Run from the repository root:  Rscript tests/results/bias/make_drdid.R
# Writes drdid.json into tests/results/bias/ (tests/models/test_bias.py reads it).
suppressPackageStartupMessages(library(jsonlite))
out_dir <- "tests/results/bias"
panel <- read.csv(file.path(out_dir, "panel.csv"))
comp <- panel[panel$completed, ]
comp$change <- comp$score_w2 - comp$score_w1
comp$role <- factor(comp$role)                      # reference = first sorted level, as crqlab

dr <- function(f_ps, f_or) {
  D <- comp$confidential
  ps <- glm(f_ps, family = binomial, data = comp)     # P(chose confidentiality | X)
  p <- fitted(ps)
  m0 <- lm(f_or, data = comp[!D, ])                    # change of the named, given X
  e <- comp$change - predict(m0, newdata = comp)
  odds <- p / (1 - p)
  att <- mean(e[D]) - sum(odds[!D] * e[!D]) / sum(odds[!D])
  list(est = att, n = nrow(comp), n_confidential = sum(D),
       n_eff_named = sum(odds[!D])^2 / sum(odds[!D]^2),
       max_weight_share = max(odds[!D]) / sum(odds[!D]),
       propensity_coef = unname(coef(ps)), outcome_coef = unname(coef(m0)))
}
ref <- list(
  covariates = dr(confidential ~ score_w1 + role + newly_included,
                  change ~ score_w1 + role + newly_included),
  intercept_only = dr(confidential ~ 1, change ~ 1))
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "drdid.json"))
