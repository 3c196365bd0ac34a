# Reference values for crqlab.measures.nps: the formulas of the R package NPS (Brendan Rocks, CRAN
# version 1.1, 2014-12-03, file R/Documented_Small_NPS_Functions.r; identical in the GitHub
# development version brendan-r/NPS R/nps.R and R/nps_tests.R).
# NPS is not in Debian, so its functions are reproduced here from that source, formula for
# formula (only the default breaks 0:6 / 7:8 / 9:10 are used; inputs contain no NA).
#   nps(x)      = mean(category - 2), category 1/2/3 = detractor/passive/promoter (scale -1..1)
#   npvar(tab)  = (p_P + p_D) - (p_P - p_D)^2, proportions from prop.table: denominator n
#   nps.var(x)  = npvar(table(npc(x)))
#   nps.se(x)   = sqrt(nps.var(x) / n)        (n = non-missing responses; no n - 1 anywhere)
#   nps.test(x, y): Wald z; delta = |nps.x - nps.y|, se = sqrt(var.x/n.x + var.y/n.y),
#                   int = delta -/+ z se, p = 1 - (2 pnorm(delta/se) - 1)
#   nps.test(x): se = sqrt(var.x/n.x), int = c(nps + z se, nps - z se) (upper first, as in NPS)
# Also: finite-population corrected SE (crqlab's convention, se * sqrt((N - n)/(N - 1))) and,
# as an independent cross-check of the FPC, survey::svymean with fpc on the +1/0/-1 scores.
# Run from this folder:  Rscript make_nps.R   -> nps_reference.json, sessionInfo.txt
suppressPackageStartupMessages({library(jsonlite); library(survey)})

npc <- function(x, breaks = list(0:6, 7:8, 9:10))
  cut(x, c(min(unlist(breaks) - 1), unlist(lapply(breaks, max))),
      labels = c("Detractor", "Passive", "Promoter"))
nps <- function(x) mean(as.numeric(npc(x)) - 2)
npvar <- function(x) {
  props <- as.numeric(prop.table(x))
  (props[3] + props[1]) - (props[3] - props[1])^2
}
nps.var <- function(x) npvar(table(npc(x)))
nps.se <- function(x) sqrt(nps.var(x) / sum(!is.na(npc(x))))
nps.test <- function(x, y = NULL, conf = 0.95) {
  alpha <- 1 - conf
  z <- qnorm(1 - alpha / 2)
  nps.x <- nps(x); var.x <- nps.var(x); n.x <- sum(!is.na(npc(x)))
  if (is.null(y)) {
    se.hat <- sqrt(var.x / n.x)
    int <- c(nps.x + z * sqrt(var.x / n.x), nps.x - z * se.hat)
    p.value <- 1 - (pnorm(abs(nps.x - 0) / se.hat) * 2 - 1)
    return(list(nps.x = nps.x, delta = abs(nps.x), int = int, p.value = p.value,
                se.hat = se.hat, n.x = n.x))
  }
  nps.y <- nps(y); var.y <- nps.var(y); n.y <- sum(!is.na(npc(y)))
  delta <- abs(nps.x - nps.y)
  se.hat <- sqrt((var.x / n.x) + (var.y / n.y))
  int <- c(delta - z * se.hat, delta + z * se.hat)
  p.value <- 1 - (pnorm(delta / se.hat) * 2 - 1)
  list(nps.x = nps.x, nps.y = nps.y, delta = delta, int = int, p.value = p.value,
       se.hat = se.hat, n.x = n.x, n.y = n.y)
}

probs_b2b <- c(0.02, 0.01, 0.01, 0.01, 0.01, 0.03, 0.03, 0.09, 0.22, 0.22, 0.35)  # NPS docs example
set.seed(20261123)
vectors <- list(
  skewed_1000 = sample(0:10, 1000, replace = TRUE, prob = probs_b2b),
  uniform_250 = sample(0:10, 250, replace = TRUE),
  small_7 = sample(0:10, 7, replace = TRUE),
  small_2 = c(10, 3),
  single_9 = c(9),
  all_promoters_20 = sample(9:10, 20, replace = TRUE),
  all_detractors_15 = sample(0:6, 15, replace = TRUE),
  all_passives_12 = sample(7:8, 12, replace = TRUE),
  detractor_heavy_300 = sample(0:10, 300, replace = TRUE, prob = rev(probs_b2b))
)

one <- lapply(vectors, function(x) {
  t1 <- nps.test(x, conf = 0.95)
  t9 <- nps.test(x, conf = 0.90)
  tab <- as.numeric(prop.table(table(npc(x))))
  list(x = x, n = length(x), nps = nps(x), nps_var = nps.var(x), nps_se = nps.se(x),
       pct_detractors = tab[1], pct_passives = tab[2], pct_promoters = tab[3],
       nps_mean = mean(x),
       int95 = t1$int, p_value95 = t1$p.value, int90 = t9$int)
})

pairs <- list(c("skewed_1000", "uniform_250"), c("uniform_250", "skewed_1000"),
              c("small_7", "all_detractors_15"), c("all_promoters_20", "skewed_1000"),
              c("skewed_1000", "detractor_heavy_300"), c("small_2", "small_7"))
two <- lapply(pairs, function(p) {
  t <- nps.test(vectors[[p[1]]], vectors[[p[2]]], conf = 0.95)
  t9 <- nps.test(vectors[[p[1]]], vectors[[p[2]]], conf = 0.90)
  list(x = p[1], y = p[2], nps_x = t$nps.x, nps_y = t$nps.y, delta = t$delta,
       se = t$se.hat, int95 = t$int, p_value = t$p.value, int90 = t9$int,
       n_x = t$n.x, n_y = t$n.y)
})

# Finite-population correction: N = frame size
fpc_cases <- list(list(vec = "uniform_250", N = 400), list(vec = "skewed_1000", N = 1200),
                  list(vec = "small_7", N = 10))
fpc <- lapply(fpc_cases, function(cs) {
  x <- vectors[[cs$vec]]; n <- length(x); N <- cs$N
  d <- data.frame(s = as.numeric(npc(x)) - 2, N = N)
  des <- svydesign(ids = ~1, fpc = ~N, data = d)
  list(vec = cs$vec, N = N, se_fpc = nps.se(x) * sqrt((N - n) / (N - 1)),
       survey_se = as.numeric(SE(svymean(~s, des))))
})

out <- list(one_sample = one, two_sample = two, fpc = fpc,
            meta = list(source = "formulas of CRAN NPS 1.1 (nps, npvar, nps.var, nps.se, nps.test)",
                        seed = 20261123, r_version = R.version.string))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "nps_reference.json")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
