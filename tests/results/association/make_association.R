# Reference values for crqlab.models.association and crqlab.models.prediction.
#
# Run from the repository root:
#   Rscript tests/results/association/make_association.R
# Writes, beside this script:
#   study.csv               a seeded synthetic respondent-level study (R's RNG, seed below)
#   mtcars.csv              R's datasets::mtcars (relative-weights example of the rwa package)
#   asah.csv                pROC::aSAH (DeLong example of the pROC documentation)
#   association_ref.json    every reference value the tests read
#   sessionInfo.txt         R and package versions
# Reads bland_altman_1995.csv (exported once from pingouin.read_dataset("rm_corr"); the
# Bland & Altman 1995 pH / PaCO2 data) for the repeated-measures correlation.
#
# Tests never call R: they read the committed files.

suppressPackageStartupMessages({
  library(lme4)
  library(pROC)
  library(sandwich)
  library(jsonlite)
})

here <- "tests/results/association"
out <- list()

# ---------------------------------------------------------------------------------------------
# 1. A synthetic study in the canonical respondent-level layout.
#    60 accounts x 3 waves, 2-10 respondents per account-wave. Account effects on every element,
#    respondent noise, element scores are means of three 1-7 items (multiples of 1/3),
#    nps is an integer 0-10, retained_next_wave is an account-wave outcome driven by commitment.
set.seed(20240611)
n_acc <- 60
waves <- 1:3
elements <- c("trust", "commitment", "satisfaction", "experience", "solution", "service")
acc_u <- rnorm(n_acc)                           # relationship strength of the account
acc_nps <- rnorm(n_acc, sd = 0.8)               # account shift in advocacy beyond CRQ
acc_cat_pool <- c("Ambassador", "Rational", "Ambivalent", "Stalker", "Opponent")
rows <- list()
for (a in seq_len(n_acc)) {
  for (w in waves) {
    m <- sample(2:10, 1)
    wave_shock <- rnorm(1, sd = 0.35)           # satisfaction moves more from wave to wave
    e <- matrix(NA_real_, m, length(elements), dimnames = list(NULL, elements))
    common <- rnorm(m)
    for (j in seq_along(elements)) {
      shock <- if (elements[j] == "satisfaction") wave_shock else wave_shock / 4
      raw <- 4.9 + 0.6 * acc_u[a] + shock + 0.55 * common + rnorm(m, sd = 0.7)
      e[, j] <- pmin(7, pmax(1, round(raw * 3) / 3))
    }
    crq <- rowMeans(e)
    nps <- pmin(10, pmax(0, round(1.6 * (crq - 4.9) + 0.9 * (e[, "commitment"] - 4.9) +
                                   7.2 + acc_nps[a] + rnorm(m, sd = 1.3))))
    cat_idx <- pmin(5, pmax(1, round(3.2 - 1.1 * (crq - 4.9) + rnorm(m, sd = 0.8))))
    rows[[length(rows) + 1]] <- data.frame(
      account_id = sprintf("A%03d", a), wave = w, respondent = seq_len(m), e,
      crq_index = crq, nps = nps, relationship = acc_cat_pool[cat_idx])
  }
}
study <- do.call(rbind, rows)
study$contact_id <- sprintf("C%05d", seq_len(nrow(study)))
acc_wave <- aggregate(cbind(commitment, trust) ~ account_id + wave, data = study, FUN = mean)
acc_wave$retained_next_wave <- rbinom(nrow(acc_wave), 1,
                                      plogis(1.0 + 1.8 * (acc_wave$commitment - 4.9))) == 1
study <- merge(study, acc_wave[, c("account_id", "wave", "retained_next_wave")],
               by = c("account_id", "wave"))
study <- study[order(study$account_id, study$wave, study$respondent), ]
study$respondent <- NULL
write.csv(study, file.path(here, "study.csv"), row.names = FALSE)
# Every reference below uses the data as read back from the CSV, exactly what Python reads
# (the in-memory means can differ in the last bit, which would break ties differently).
study <- read.csv(file.path(here, "study.csv"))

# ---------------------------------------------------------------------------------------------
# 2. Respondent-level correlations of nps with crq_index and each element (cor.test, exact=FALSE).
cors <- list()
for (y in c("crq_index", elements)) {
  for (meth in c("pearson", "spearman", "kendall")) {
    ct <- suppressWarnings(cor.test(study$nps, study[[y]], method = meth, exact = FALSE))
    cors[[length(cors) + 1]] <- list(y = y, method = meth, est = unname(ct$estimate),
                                     stat = unname(ct$statistic), p_value = ct$p.value,
                                     ci_low = if (is.null(ct$conf.int)) NA else ct$conf.int[1],
                                     ci_high = if (is.null(ct$conf.int)) NA else ct$conf.int[2])
  }
}
out$correlations <- cors

# 3. Account-level (account means over all waves), weighted by respondents: cov.wt.
acc <- aggregate(cbind(nps, crq_index, trust, commitment) ~ account_id, data = study, FUN = mean)
acc$n <- as.vector(table(study$account_id)[acc$account_id])
wc <- cov.wt(acc[, c("nps", "crq_index", "trust", "commitment")], wt = acc$n / sum(acc$n),
             cor = TRUE)$cor
out$account_weighted <- list(crq_index = wc["nps", "crq_index"], trust = wc["nps", "trust"],
                             commitment = wc["nps", "commitment"],
                             n_eff = sum(acc$n)^2 / sum(acc$n^2))
out$account_unweighted_pearson <- cor(acc$nps, acc$crq_index)

# ---------------------------------------------------------------------------------------------
# 4. Repeated-measures correlation on Bland & Altman (1995) by its ANCOVA definition
#    (Bakdash & Marusich 2017): lm(PacO2 ~ factor(Subject) + pH).
ba <- read.csv(file.path(here, "bland_altman_1995.csv"))
fit_rm <- lm(PacO2 ~ factor(Subject) + pH, data = ba)
av <- anova(fit_rm)
ss_x <- av["pH", "Sum Sq"]; ss_e <- av["Residuals", "Sum Sq"]
r_rm <- sign(coef(fit_rm)["pH"]) * sqrt(ss_x / (ss_x + ss_e))
df_rm <- av["Residuals", "Df"]
z <- atanh(r_rm); se <- 1 / sqrt(df_rm - 1)          # Fisher z with n = df + 2
out$rm_corr <- list(est = unname(r_rm), df = df_rm, p_value = av["pH", "Pr(>F)"],
                    ci_low = unname(tanh(z - qnorm(0.975) * se)),
                    ci_high = unname(tanh(z + qnorm(0.975) * se)))
# Same on the synthetic study: nps and crq_index within account (account-wave means).
aw <- aggregate(cbind(nps, crq_index) ~ account_id + wave, data = study, FUN = mean)
fit_rm2 <- lm(nps ~ factor(account_id) + crq_index, data = aw)
av2 <- anova(fit_rm2)
out$rm_corr_study <- list(
  est = unname(sign(coef(fit_rm2)["crq_index"]) *
                 sqrt(av2["crq_index", "Sum Sq"] / (av2["crq_index", "Sum Sq"] +
                                                      av2["Residuals", "Sum Sq"]))),
  df = av2["Residuals", "Df"], p_value = av2["crq_index", "Pr(>F)"])

# ---------------------------------------------------------------------------------------------
# 5. Within/between (person-mean centring) random-intercept model, lme4, REML and ML.
study$crq_between <- ave(study$crq_index, study$account_id)
study$crq_within <- study$crq_index - study$crq_between
mlm <- function(reml) {
  f <- lmer(nps ~ crq_within + crq_between + (1 | account_id), data = study, REML = reml)
  cf <- summary(f)$coefficients
  vc <- as.data.frame(VarCorr(f))
  L <- c(0, -1, 1)                                   # contextual effect: between - within
  list(est = unname(cf[, "Estimate"]), se = unname(cf[, "Std. Error"]),
       terms = rownames(cf),
       contextual_est = sum(L * fixef(f)),
       contextual_se = sqrt(drop(t(L) %*% as.matrix(vcov(f)) %*% L)),
       var_account = vc$vcov[vc$grp == "account_id"],
       var_residual = vc$vcov[vc$grp == "Residual"],
       loglik = as.numeric(logLik(f)))
}
out$mixed_reml <- mlm(TRUE)
out$mixed_ml <- mlm(FALSE)

# ---------------------------------------------------------------------------------------------
# 6. Relative weights (Johnson 2000), base-R implementation written from the paper, and general
#    dominance weights (Budescu 1993; equal to relaimpo's LMG) by all subsets of lm().
#    relaimpo is not in Debian; the published rwa README values for mtcars are asserted too.
johnson_rw <- function(d, y, xs) {
  R <- cor(d[, c(xs, y)])
  Rxx <- R[xs, xs]; rxy <- R[xs, y]
  ev <- eigen(Rxx, symmetric = TRUE)
  lam <- ev$vectors %*% diag(sqrt(ev$values)) %*% t(ev$vectors)
  beta <- solve(lam, rxy)
  eps <- drop((lam^2) %*% beta^2)
  names(eps) <- xs
  list(weights = as.list(eps), r2 = sum(eps))
}
general_dominance <- function(d, y, xs) {
  p <- length(xs)
  r2 <- function(s) if (length(s) == 0) 0 else
    summary(lm(reformulate(s, y), data = d))$r.squared
  gd <- setNames(numeric(p), xs)
  for (j in xs) {
    others <- setdiff(xs, j)
    by_size <- numeric(p)
    for (k in 0:(p - 1)) {
      subs <- if (k == 0) list(character(0)) else combn(others, k, simplify = FALSE)
      by_size[k + 1] <- mean(vapply(subs, function(s) r2(c(s, j)) - r2(s), 0))
    }
    gd[j] <- mean(by_size)
  }
  as.list(gd)
}
data(mtcars)
write.csv(mtcars, file.path(here, "mtcars.csv"), row.names = TRUE)
mt_x <- c("cyl", "disp", "hp", "gear")
out$rw_mtcars <- johnson_rw(mtcars, "mpg", mt_x)
out$rw_mtcars$r2_lm <- summary(lm(mpg ~ cyl + disp + hp + gear, data = mtcars))$r.squared
out$dominance_mtcars <- general_dominance(mtcars, "mpg", mt_x)
out$rw_study <- johnson_rw(study, "nps", elements)
out$rw_study$r2_lm <- summary(lm(reformulate(elements, "nps"), data = study))$r.squared
out$dominance_study <- general_dominance(study, "nps", elements)

# ---------------------------------------------------------------------------------------------
# 7. NPS category x relationship category: chisq.test without continuity correction.
study$nps_category <- cut(study$nps, c(-1, 6, 8, 10),
                          labels = c("detractor", "passive", "promoter"))
tab <- table(study$nps_category, study$relationship)
ch <- suppressWarnings(chisq.test(tab, correct = FALSE))
out$chisq <- list(stat = unname(ch$statistic), df = unname(ch$parameter), p_value = ch$p.value,
                  n = sum(tab))

# ---------------------------------------------------------------------------------------------
# 8. Volatility: SD across waves of account-wave means, satisfaction vs trust, paired tests.
aw3 <- aggregate(cbind(satisfaction, trust) ~ account_id + wave, data = study, FUN = mean)
sd_sat <- tapply(aw3$satisfaction, aw3$account_id, sd)
sd_tru <- tapply(aw3$trust, aw3$account_id, sd)
tt <- t.test(sd_sat, sd_tru, paired = TRUE)
wt <- suppressWarnings(wilcox.test(sd_sat, sd_tru, paired = TRUE, exact = FALSE, correct = TRUE))
out$volatility <- list(mean_sd_satisfaction = mean(sd_sat), mean_sd_trust = mean(sd_tru),
                       t_stat = unname(tt$statistic), t_df = unname(tt$parameter),
                       t_p_value = tt$p.value, diff_ci_low = tt$conf.int[1],
                       diff_ci_high = tt$conf.int[2], wilcoxon_v = unname(wt$statistic),
                       wilcoxon_p_value = wt$p.value, n_accounts = length(sd_sat))

# ---------------------------------------------------------------------------------------------
# 9. Account-clustered logistic regression of retention on each standardised predictor
#    (account-wave means; clusters = accounts), sandwich::vcovCL type HC1.
aw4 <- aggregate(cbind(nps, crq_index, commitment, trust, satisfaction) ~ account_id + wave +
                   retained_next_wave, data = study, FUN = mean)
# Means rounded to 10 decimals, as crqlab.models.prediction.outcome_units does, so that equal means tie.
preds <- c("nps", "crq_index", "commitment", "trust", "satisfaction")
aw4[preds] <- round(aw4[preds], 10)
logit_ref <- list()
for (p in c("nps", "crq_index", "commitment", "trust", "satisfaction")) {
  aw4$z <- as.vector(scale(aw4[[p]]))
  # IRLS run to full convergence: sandwich::estfun uses the working weights of the last
  # iteration, so at glm's default epsilon the SE carries an error of order 1e-6
  g <- glm(retained_next_wave ~ z, family = binomial, data = aw4,
           control = glm.control(epsilon = 1e-14, maxit = 100))
  V <- vcovCL(g, cluster = ~account_id, type = "HC1")
  logit_ref[[p]] <- list(est = unname(coef(g)["z"]), se = sqrt(V["z", "z"]),
                         auc = as.numeric(auc(roc(aw4$retained_next_wave, aw4[[p]],
                                                  direction = "<", quiet = TRUE))))
}
out$logit_clustered <- logit_ref
out$logit_n <- nrow(aw4)
# DeLong paired test, commitment vs nps, on the account-wave table.
rc <- roc(aw4$retained_next_wave, aw4$commitment, direction = "<", quiet = TRUE)
rn <- roc(aw4$retained_next_wave, aw4$nps, direction = "<", quiet = TRUE)
tst <- roc.test(rc, rn, method = "delong", paired = TRUE)
out$delong_study <- list(auc_a = as.numeric(auc(rc)), auc_b = as.numeric(auc(rn)),
                         stat = unname(tst$statistic), p_value = tst$p.value,
                         ci_low = tst$conf.int[1], ci_high = tst$conf.int[2],
                         se_a = sqrt(var(rc, method = "delong")),
                         se_b = sqrt(var(rn, method = "delong")))

# 10. pROC's documented example: aSAH, s100b vs wfns (numeric), DeLong.
data(aSAH)
asah <- data.frame(outcome = as.integer(aSAH$outcome == "Poor"),
                   s100b = aSAH$s100b, wfns = as.integer(aSAH$wfns), ndka = aSAH$ndka)
write.csv(asah, file.path(here, "asah.csv"), row.names = FALSE)
r1 <- roc(asah$outcome, asah$s100b, direction = "<", quiet = TRUE)
r2 <- roc(asah$outcome, asah$wfns, direction = "<", quiet = TRUE)
r3 <- roc(asah$outcome, asah$ndka, direction = "<", quiet = TRUE)
t12 <- roc.test(r1, r2, method = "delong", paired = TRUE)
t13 <- roc.test(r1, r3, method = "delong", paired = TRUE)
ci1 <- ci.auc(r1, method = "delong")
out$delong_asah <- list(
  auc_s100b = as.numeric(auc(r1)), auc_wfns = as.numeric(auc(r2)), auc_ndka = as.numeric(auc(r3)),
  stat_s100b_wfns = unname(t12$statistic), p_s100b_wfns = t12$p.value,
  stat_s100b_ndka = unname(t13$statistic), p_s100b_ndka = t13$p.value,
  ci_low_s100b = ci1[1], ci_high_s100b = ci1[3], se_s100b = sqrt(var(r1, method = "delong")))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "association_ref.json"))
writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
