# Reference values for crqlab.measures.reliability: psych::alpha and psych::omega on psych's bfi data.
# Run from this folder:  Rscript make_psych.R
# Writes bfi.csv (the 25 items, 2,800 rows, NA as empty), psych_reference.json and
# sessionInfo.txt. Tests read these files; they never call R.
suppressPackageStartupMessages({library(psych); library(jsonlite)})

data(bfi, package = "psych")
items <- bfi[, 1:25]
write.csv(items, "bfi.csv", row.names = FALSE, na = "")

scales <- list(
  agreeableness = c("-A1", "A2", "A3", "A4", "A5"),
  conscientiousness = c("C1", "C2", "C3", "-C4", "-C5"),
  extraversion = c("-E1", "-E2", "E3", "E4", "E5"),
  neuroticism = c("N1", "N2", "N3", "N4", "N5"),
  openness = c("O1", "-O2", "O3", "O4", "-O5")
)

one_scale <- function(keyed) {
  names <- sub("^-", "", keyed)
  key <- ifelse(grepl("^-", keyed), -1, 1)
  x <- items[, names]
  # psych::alpha, pairwise covariances (its default use = "pairwise")
  a <- psych::alpha(x, keys = names[key < 0], warnings = FALSE)
  # listwise: complete cases only
  xl <- na.omit(x)
  al <- psych::alpha(xl, keys = names[key < 0], warnings = FALSE)
  # Feldt interval of the standardised alpha (same F formula, alpha.ci)
  fstd <- psych::alpha.ci(a$total$std.alpha, nrow(x), length(names), p.val = 0.05)
  # psych::omega, one factor, minres, pairwise correlations, items keyed
  om <- suppressMessages(suppressWarnings(
    psych::omega(x, nfactors = 1, fm = "minres", key = key, plot = FALSE)))
  lam <- as.numeric(om$schmid$sl[, 1])
  u2 <- as.numeric(om$schmid$sl[, "u2"])
  list(
    items = names, key = key, n = nrow(x), n_listwise = nrow(xl),
    alpha_raw = a$total$raw_alpha, alpha_std = a$total$std.alpha,
    feldt_low = a$feldt$lower.ci[[1]], feldt_high = a$feldt$upper.ci[[1]],
    feldt_std_low = fstd$lower.ci[[1]], feldt_std_high = fstd$upper.ci[[1]],
    alpha_raw_listwise = al$total$raw_alpha, alpha_std_listwise = al$total$std.alpha,
    feldt_listwise_low = al$feldt$lower.ci[[1]], feldt_listwise_high = al$feldt$upper.ci[[1]],
    omega_tot = om$omega.tot, omega_h = om$omega_h, loadings = lam, u2 = u2,
    # composite reliability from the same minres loadings (formula, not a psych function):
    composite_reliability = sum(lam)^2 / (sum(lam)^2 + sum(1 - lam^2))
  )
}

out <- lapply(scales, one_scale)
out$meta <- list(psych_version = as.character(packageVersion("psych")),
                 r_version = R.version.string,
                 calls = c("psych::alpha(x, keys = <reverse-keyed items>)",
                           "psych::alpha(na.omit(x), keys = ...)",
                           "psych::alpha.ci(std.alpha, nrow(x), k)",
                           "psych::omega(x, nfactors = 1, fm = 'minres', key = key)"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "psych_reference.json")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
