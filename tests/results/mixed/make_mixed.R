# Reference values for crqlab/models/mixed.py and the mixed models that use it
# (tests/models/test_mixed.py reads what this writes).
# Run from the repository root:  Rscript tests/results/mixed/make_mixed.R
# Writes hsb82.csv (the data, with a random pseudo-school column), reference.json and sessionInfo.txt into tests/results/mixed/.
#
# Data: High School and Beyond, 7185 students in 160 schools (Raudenbush & Bryk 2002), as
# mlmRev::Hsb82 (Debian r-cran-mlmrev). The same data are nlme's MathAchieve (students) and
# MathAchSchool (schools); the script checks that the two sources agree, so the reference can
# be rebuilt from nlme alone where mlmRev is missing.
suppressPackageStartupMessages({
  library(lme4); library(jsonlite); library(nlme)
})
out_dir <- "tests/results/mixed"

have_mlmrev <- requireNamespace("mlmRev", quietly = TRUE)
ma <- nlme::MathAchieve
sch <- nlme::MathAchSchool
from_nlme <- data.frame(
  school = as.character(ma$School),
  minority = ma$Minority == "Yes",
  female = ma$Sex == "Female",
  ses = ma$SES,
  mathach = ma$MathAch,
  catholic = sch$Sector[match(as.character(ma$School), as.character(sch$School))] == "Catholic")
if (have_mlmrev) {
  data("Hsb82", package = "mlmRev", envir = environment())
  hsb <- data.frame(school = as.character(Hsb82$school), minority = Hsb82$minrty == "Yes",
                    female = Hsb82$sx == "Female", ses = Hsb82$ses, mathach = Hsb82$mAch,
                    catholic = Hsb82$sector == "Catholic")
  stopifnot(identical(hsb$school, from_nlme$school),
            identical(hsb$minority, from_nlme$minority), identical(hsb$female, from_nlme$female),
            identical(hsb$catholic, from_nlme$catholic),
            max(abs(hsb$ses - from_nlme$ses)) < 1e-12,
            max(abs(hsb$mathach - from_nlme$mathach)) < 1e-12)
} else {
  hsb <- from_nlme
}
# 3 decimals are the precision of the published data; the fits below use the rounded values
hsb$ses <- round(hsb$ses, 3)
hsb$mathach <- round(hsb$mathach, 3)
# for the boundary fit (section 3): students assigned to 40 pseudo-schools at random
set.seed(16)
hsb$pseudo <- sprintf("P%02d", sample(rep(1:40, length.out = nrow(hsb))))
write.csv(hsb, file.path(out_dir, "hsb82.csv"), row.names = FALSE)
hsb <- read.csv(file.path(out_dir, "hsb82.csv"), colClasses = c(school = "character"))

ref <- list(source = if (have_mlmrev) "mlmRev::Hsb82 (checked against nlme::MathAchieve)"
                     else "nlme::MathAchieve + MathAchSchool",
            n = nrow(hsb), n_schools = length(unique(hsb$school)))

tidy_lmer <- function(fit, L = NULL) {
  V <- as.matrix(vcov(fit))
  vc <- as.data.frame(VarCorr(fit))
  res <- list(term = names(fixef(fit)), est = unname(fixef(fit)), se = unname(sqrt(diag(V))),
              var_group = vc$vcov[1], var_residual = vc$vcov[2],
              loglik = as.numeric(logLik(fit)), reml = isREML(fit),
              singular = isSingular(fit))
  if (!is.null(L)) {
    res$combo_est <- sum(L * fixef(fit)); res$combo_se <- sqrt(drop(t(L) %*% V %*% L))
  }
  res
}

# 1. The model of issue 16: mathach ~ catholic * minority + ses + (1 | school), REML and ML.
#    This is the call crqlab makes:
#    clustered_effects(hsb, "mathach", group="catholic", moderator="minority",
#                      controls=("ses",), cluster="school", method="mixed")
for (reml in c(TRUE, FALSE)) {
  fit <- lmer(mathach ~ catholic * minority + ses + (1 | school), data = hsb, REML = reml)
  L <- setNames(rep(0, length(fixef(fit))), names(fixef(fit)))
  L[c("catholicTRUE", "catholicTRUE:minorityTRUE")] <- 1
  ref[[if (reml) "catholic_reml" else "catholic_ml"]] <- tidy_lmer(fit, L)
}

# 2. Within and between schools (crqlab.models.association.within_between):
#    mathach ~ ses_within + ses_between + (1 | school)
hsb$ses_between <- ave(hsb$ses, hsb$school)
hsb$ses_within <- hsb$ses - hsb$ses_between
fit <- lmer(mathach ~ ses_within + ses_between + (1 | school), data = hsb, REML = TRUE)
ref$within_between <- tidy_lmer(fit, c(0, -1, 1))

# 3. A boundary fit: students assigned to 40 pseudo-schools at random have no between-group
#    variance; lme4 puts the estimate on the boundary (0) and reports a singular fit.
fit <- lmer(mathach ~ ses + (1 | pseudo), data = hsb, REML = TRUE)
ref$boundary <- tidy_lmer(fit)

writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "reference.json"))
writeLines(capture.output(sessionInfo()), file.path(out_dir, "sessionInfo.txt"))
