# Reference values for crqlab.models.weighting (raking and design-based means), from R survey.
# Run from this folder:  Rscript make_survey.R
# Writes apiclus1.csv (the columns the tests need), survey.json, response_frame.csv,
# response.json and sessionInfo.txt.
# The raking call is the documented example of ?rake (survey package), on the plain
# (linearisation) design dclus1 rather than its replicate-weight version.
suppressMessages(library(survey))
library(jsonlite)

data(api)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)

pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))

# ?rake example, default control = list(maxit = 10, epsilon = 1)
rclus1 <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide))
# the same raking run to a tight tolerance (relative epsilon < 1 is scaled by sum of weights)
rclus1_tight <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                     control = list(maxit = 100, epsilon = 1e-12))

m_unraked <- svymean(~api00, dclus1)
m_raked <- svymean(~api00, rclus1)
m_tight <- svymean(~api00, rclus1_tight)

write.csv(apiclus1[, c("snum", "dnum", "pw", "fpc", "stype", "sch.wide", "api00", "enroll")],
          "apiclus1.csv", row.names = FALSE)

out <- list(
  call = "rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide))",
  pop_types = pop.types,
  pop_schwide = pop.schwide,
  n_clusters_population = unique(apiclus1$fpc),
  unraked = list(mean = unname(coef(m_unraked)), se = unname(SE(m_unraked))),
  raked = list(weights = unname(weights(rclus1)), mean = unname(coef(m_raked)),
               se = unname(SE(m_raked)),
               margin_stype = as.data.frame(svytable(~stype, rclus1)),
               margin_schwide = as.data.frame(svytable(~sch.wide, rclus1))),
  raked_tight = list(weights = unname(weights(rclus1_tight)), mean = unname(coef(m_tight)),
                     se = unname(SE(m_tight))),
  kish = list(weights = unname(weights(rclus1)),
              deff = length(weights(rclus1)) * sum(weights(rclus1)^2) / sum(weights(rclus1))^2,
              n_eff = sum(weights(rclus1))^2 / sum(weights(rclus1)^2))
)
write_json(out, "survey.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)

# ---------------------------------------------------------------------------------------
# Reference values for crqlab.models.nonresponse on a small simulated contact frame (made here, so the
# Python tests read exactly the data R used): Wilson intervals, the account-level weighted
# association of response rate and score, and account-clustered trend regressions.
set.seed(20261123)
n_acc <- 12
n_per <- sample(6:15, n_acc, replace = TRUE)
frame <- data.frame(wave = 1L, account_id = sprintf("A%02d", rep(seq_len(n_acc), n_per)))
frame$contact_id <- sprintf("C%03d", seq_len(nrow(frame)))
acc_eff <- rnorm(n_acc, 0, 0.4)[rep(seq_len(n_acc), n_per)]
p_resp <- plogis(0.2 + 1.5 * acc_eff)
frame$responded <- runif(nrow(frame)) < p_resp
frame$reminders <- ifelse(frame$responded, sample(0:2, nrow(frame), replace = TRUE,
                                                  prob = c(0.5, 0.3, 0.2)), NA)
frame$crq_index <- ifelse(frame$responded,
                          round(pmin(7, pmax(1, 5.3 + acc_eff - 0.15 * frame$reminders +
                                                 rnorm(nrow(frame), 0, 0.6))), 4), NA)
frame$nps <- ifelse(frame$responded,
                    pmin(10, pmax(0, round(7.5 + 2 * (frame$crq_index - 5.3) +
                                               rnorm(nrow(frame), 0, 1.2)))), NA)
write.csv(frame, "response_frame.csv", row.names = FALSE, na = "")

# response rate per account: Wilson = prop.test without continuity correction
by_acc <- aggregate(cbind(invited = 1, responded = responded) ~ account_id, data = frame, FUN = sum)
wilson <- t(mapply(function(x, n) suppressWarnings(prop.test(x, n, correct = FALSE))$conf.int,
                   by_acc$responded, by_acc$invited))

# account-level association: mean CRQ of respondents against response rate, weights = n
resp <- frame[frame$responded, ]
acc <- merge(by_acc, aggregate(crq_index ~ account_id, data = resp, FUN = mean), by = "account_id")
acc$rate <- acc$responded / acc$invited
fit <- lm(crq_index ~ rate, data = acc, weights = responded)
cw <- cov.wt(cbind(acc$rate, acc$crq_index), wt = acc$responded / sum(acc$responded), cor = TRUE)

# Armstrong-Overton trend: CRQ on reminder number, accounts as clusters (linearisation)
resp$nps_points <- 100 * ((resp$nps >= 9) - (resp$nps <= 6))
dres <- suppressWarnings(svydesign(id = ~account_id, data = resp))  # equal weights
trend <- svyglm(crq_index ~ reminders, design = dres)
trend_nps <- svyglm(nps_points ~ reminders, design = dres)
el <- subset(resp, reminders %in% c(0, 2))
el$late <- as.numeric(el$reminders == 2)
early_late <- svyglm(crq_index ~ late, design = suppressWarnings(svydesign(id = ~account_id, data = el)))
resp_mean <- svymean(~crq_index, dres)

resp_out <- list(
  wilson = list(account_id = by_acc$account_id, x = by_acc$responded, n = by_acc$invited,
                ci_low = wilson[, 1], ci_high = wilson[, 2],
                call = "prop.test(x, n, correct = FALSE)$conf.int"),
  association = list(slope = unname(coef(fit)[2]), se = unname(coef(summary(fit))[2, 2]),
                     t = unname(coef(summary(fit))[2, 3]), p = unname(coef(summary(fit))[2, 4]),
                     df = fit$df.residual, ci = unname(confint(fit)[2, ]),
                     weighted_r = cw$cor[1, 2], n_accounts = nrow(acc),
                     call = "lm(crq_index ~ rate, weights = responded); cov.wt(cor = TRUE)"),
  trend = list(coef = unname(coef(trend)), se = unname(SE(trend)), n = nrow(resp),
               n_params = 2, n_accounts = length(unique(resp$account_id)),
               call = "svyglm(crq_index ~ reminders, svydesign(id = ~account_id, data = resp))"),
  trend_nps = list(coef = unname(coef(trend_nps)), se = unname(SE(trend_nps))),
  early_late = list(coef = unname(coef(early_late)), se = unname(SE(early_late)), n = nrow(el),
                    n_accounts = length(unique(el$account_id))),
  respondent_mean = list(mean = unname(coef(resp_mean)), se = unname(SE(resp_mean)))
)
write_json(resp_out, "response.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)

writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
