# Reference values for crqlab.measures.reliability.omega_hierarchical: psych::omega on the 25
# bfi items with 5 group factors (minres, varimax then oblimin, Schmid-Leiman, items flipped
# to load positively on g), with every intermediate matrix.
# Run from this folder after make_psych.R (which writes bfi.csv, psych's bfi items; psych is
# GPL-2+ and so are its data):   Rscript make_omega.R
# Writes omega_reference.json and sessionInfo_omega.txt. Tests read these files; never call R.
suppressPackageStartupMessages({library(psych); library(GPArotation); library(jsonlite)})

items <- read.csv("bfi.csv")
om <- psych::omega(items, nfactors = 5, plot = FALSE)  # defaults: fm = "minres", oblimin
sl <- om$schmid
r <- cor(items, use = "pairwise")
fa5 <- psych::fa(r, 5, rotate = "none", fm = "minres")
out <- list(
  call = "psych::omega(bfi[, 1:25], nfactors = 5)",
  omega_h = om$omega_h, omega_tot = om$omega.tot, alpha = om$alpha, omega_lim = om$omega.lim,
  ecv = unname(om$ECV), key = as.numeric(om$key),
  g = as.numeric(sl$sl[, 1]), u2 = as.numeric(sl$sl[, "u2"]), h2 = as.numeric(sl$sl[, "h2"]),
  group = unname(unclass(sl$sl[, 2:6])),
  orthog = unname(unclass(sl$orthog)), oblique = unname(unclass(sl$oblique)),
  phi = unname(unclass(sl$phi)), gloading = as.numeric(sl$gloading),
  unrotated_communalities = as.numeric(fa5$communality),
  items = names(items),
  meta = list(psych_version = as.character(packageVersion("psych")),
              gparotation_version = as.character(packageVersion("GPArotation")),
              r_version = R.version.string))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "omega_reference.json")
writeLines(capture.output(sessionInfo()), "sessionInfo_omega.txt")
