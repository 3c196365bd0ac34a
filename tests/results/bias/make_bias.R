# Reference values for crqlab/bias.py (tests/models/test_bias.py reads what this writes).
# Run from the repository root:  Rscript tests/results/bias/make_bias.R
# Writes cross.csv and panel.csv (the fixture data, generated here), reference.json and
# sessionInfo.txt into tests/results/bias/.
suppressPackageStartupMessages({
  library(sandwich); library(lmtest); library(lme4); library(jsonlite)
})
out_dir <- "tests/results/bias"
set.seed(20261123)

# ---------------------------------------------------------------- fixture data
G <- 40
sizes <- sample(3:12, G, replace = TRUE)
account_id <- rep(sprintf("A%03d", seq_len(G)), sizes)
n <- length(account_id)
u <- rep(rnorm(G, 0, 0.7), sizes)
latent <- 7 + u + rnorm(n, 0, 1.5)
role <- sample(c("key decision maker", "operational", "administrative"), n, replace = TRUE)
newly_included <- runif(n) < 0.3
confidential <- runif(n) < plogis(-1 + 0.5 * newly_included - 0.4 * (latent - 7))
clamp <- function(x, lo, hi) pmin(pmax(x, lo), hi)
nps <- clamp(round(latent + rnorm(n) - 0.6 * confidential * newly_included), 0, 10)
crq_index <- clamp(round(4.6 + 0.35 * (latent - 7) + rnorm(n, 0, 0.6), 2), 1, 7)
cross <- data.frame(contact_id = sprintf("C%04d", seq_len(n)), account_id, role,
                    newly_included, confidential, nps, crq_index)
write.csv(cross, file.path(out_dir, "cross.csv"), row.names = FALSE)

# panel: wave-1 score, completion of wave 2 (less often if confidential or unhappy), wave-2 score
completed <- runif(n) < plogis(0.8 - 0.7 * confidential + 0.3 * (nps - 7))
score_w2 <- clamp(round(latent + 0.1 + 1.0 * confidential + rnorm(n)), 0, 10)
score_w2[!completed] <- NA
panel <- data.frame(contact_id = cross$contact_id, account_id, role, newly_included,
                    confidential, score_w1 = nps, completed, score_w2)
write.csv(panel, file.path(out_dir, "panel.csv"), row.names = FALSE, na = "")

ref <- list()
# ---------------------------------------------------------------- two-group comparisons
for (s in c("nps", "crq_index")) {
  x <- cross[[s]][cross$confidential]; y <- cross[[s]][!cross$confidential]
  tt <- t.test(x, y)                                  # Welch
  ww <- wilcox.test(x, y, exact = FALSE, correct = TRUE)
  ref[[paste0("welch_", s)]] <- list(est = unname(tt$estimate[1] - tt$estimate[2]),
    ci_low = tt$conf.int[1], ci_high = tt$conf.int[2], stat = unname(tt$statistic),
    df = unname(tt$parameter), p_value = tt$p.value)
  ref[[paste0("mwu_", s)]] <- list(stat = unname(ww$statistic), p_value = ww$p.value)
}
# completion difference: Pearson chi-square without continuity correction
tab <- table(panel$confidential, panel$completed)
pt <- prop.test(c(tab["TRUE", "TRUE"], tab["FALSE", "TRUE"]),
                c(sum(tab["TRUE", ]), sum(tab["FALSE", ])), correct = FALSE)
ref$completion <- list(chisq = unname(pt$statistic), p_value = pt$p.value,
                       est = unname(pt$estimate[1] - pt$estimate[2]))

# ---------------------------------------------------------------- clustered regressions
cross$role <- factor(cross$role)                      # reference = first sorted level
tidy_cl <- function(fit, cluster, L = NULL) {
  V <- vcovCL(fit, cluster = cluster, type = "HC1")
  G <- length(unique(cluster))
  ct <- coeftest(fit, vcov. = V, df = G - 1)
  ci <- coefci(fit, vcov. = V, df = G - 1)
  res <- list(term = rownames(ct), est = unname(ct[, 1]), se = unname(ct[, 2]),
              stat = unname(ct[, 3]), p_value = unname(ct[, 4]), ci_low = unname(ci[, 1]),
              ci_high = unname(ci[, 2]), df = G - 1)
  if (!is.null(L)) {
    res$combo_est <- sum(L * coef(fit)); res$combo_se <- sqrt(drop(t(L) %*% V %*% L))
  }
  res
}
ols <- lm(nps ~ confidential * newly_included + role, data = cross)
L <- setNames(rep(0, length(coef(ols))), names(coef(ols)))
L[c("confidentialTRUE", "confidentialTRUE:newly_includedTRUE")] <- 1
ref$ols_nps <- tidy_cl(ols, cross$account_id, L)

mm <- lmer(nps ~ confidential * newly_included + role + (1 | account_id), data = cross,
           REML = TRUE)
Vm <- as.matrix(vcov(mm))
ref$lmer_nps <- list(term = names(fixef(mm)), est = unname(fixef(mm)),
                     se = unname(sqrt(diag(Vm))),
                     var_account = as.data.frame(VarCorr(mm))$vcov[1],
                     combo_est = sum(L * fixef(mm)), combo_se = sqrt(drop(t(L) %*% Vm %*% L)))

# ---------------------------------------------------------------- panel
comp <- panel[panel$completed, ]
comp$change <- comp$score_w2 - comp$score_w1
for (g in c(TRUE, FALSE)) {
  d <- comp[comp$confidential == g, ]
  tt <- t.test(d$score_w2, d$score_w1, paired = TRUE)
  ref[[paste0("paired_", if (g) "confidential" else "named")]] <- list(
    est = unname(tt$estimate), ci_low = tt$conf.int[1], ci_high = tt$conf.int[2],
    stat = unname(tt$statistic), df = unname(tt$parameter), p_value = tt$p.value,
    n = nrow(d))
}
did <- lm(change ~ confidential, data = comp)
ref$did <- tidy_cl(did, comp$account_id)
comp$role <- factor(comp$role)
did_cov <- lm(change ~ confidential + score_w1 + role, data = comp)
ref$did_cov <- tidy_cl(did_cov, comp$account_id)

# IPW (point estimate): per group, logistic completion ~ score_w1 + role + newly_included,
# Hajek-weighted mean change of completers
panel$role <- factor(panel$role)
ipw_mu <- sapply(c(TRUE, FALSE), function(g) {
  d <- panel[panel$confidential == g, ]
  fit <- glm(completed ~ score_w1 + role + newly_included, family = binomial, data = d)
  p <- fitted(fit)
  r <- d$completed
  ch <- ifelse(r, d$score_w2 - d$score_w1, 0)
  sum(r * ch / p) / sum(r / p)
})
ref$ipw <- list(confidential = ipw_mu[1], named = ipw_mu[2], difference = ipw_mu[1] - ipw_mu[2])

# Lee (2009) bounds by hand: trim the group with the higher completion rate by the share
# p = (q_hi - q_lo) / q_hi of its completers, with a fractional boundary observation.
trimmed_mean <- function(y, p, from_top) {
  y <- sort(y, decreasing = from_top)                 # drop from the front
  k <- p * length(y); j <- floor(k); f <- k - j
  kept <- y[(j + 1):length(y)]
  (sum(kept) - f * kept[1]) / (length(y) - k)
}
lee <- function(outcome) {
  q_c <- mean(panel$completed[panel$confidential])
  q_n <- mean(panel$completed[!panel$confidential])
  yc <- comp[[outcome]][comp$confidential]; yn <- comp[[outcome]][!comp$confidential]
  if (q_n >= q_c) {
    p <- (q_n - q_c) / q_n
    lower <- mean(yc) - trimmed_mean(yn, p, from_top = FALSE)   # named: drop the lowest
    upper <- mean(yc) - trimmed_mean(yn, p, from_top = TRUE)    # named: drop the highest
  } else {
    p <- (q_c - q_n) / q_c
    lower <- trimmed_mean(yc, p, from_top = TRUE) - mean(yn)
    upper <- trimmed_mean(yc, p, from_top = FALSE) - mean(yn)
  }
  list(lower = lower, upper = upper, trim_share = p, q_confidential = q_c, q_named = q_n)
}
ref$lee_score_w2 <- lee("score_w2")
ref$lee_change <- lee("change")

# headline decomposition by hand: shift = trend + inflation + reversion + attrition
w1_all <- mean(panel$score_w1); w2 <- mean(comp$score_w2); w1_comp <- mean(comp$score_w1)
trend <- mean(comp$change[!comp$confidential])
raw_did <- mean(comp$change[comp$confidential]) - trend
w_c <- mean(comp$confidential)
headline <- function(did) list(mean_before = w1_all, mean_after = w2, shift = w2 - w1_all,
                               trend = trend, did = did, inflation = w_c * did,
                               reversion = w_c * (raw_did - did), attrition = w1_comp - w1_all)
ref$headline <- headline(raw_did)
# adjusted for the wave-1 score and role: the confidential coefficient of the DiD regression
ref$headline_adjusted <- headline(unname(coef(did_cov)["confidentialTRUE"]))

writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "reference.json"))
writeLines(capture.output(sessionInfo()), file.path(out_dir, "sessionInfo.txt"))
