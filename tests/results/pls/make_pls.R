# Reference values for crqlab.models.pls: an independent base-R PLS path modelling
# implementation (no seminr / cSEM / plspm: none is installable here), written from
# Lohmoeller (1989), Hair et al. (2021, PLS-SEM Using R, ch. 3-6), Henseler, Ringle & Sarstedt
# (2015, HTMT), Shmueli et al. (2016, PLSpredict) and Ringle & Sarstedt (2016, IPMA).
# Unlike crqlab (which runs on the indicator correlation matrix), this script iterates on the
# standardised data and the construct scores themselves.
#
# Data: corp_rep.csv, the corporate reputation data of Hair et al.'s PLS-SEM primer as shipped
# with R seminr (data/corp_rep_data.rda; the same values as seminr's "Corporate Reputation
# Data.csv"), columns of the simple model only; -99 = missing, mean replacement (as seminr's
# estimate_pls(missing = mean_replacement, missing_value = "-99") in the primer).
#
# Run from this folder:  Rscript make_pls.R   -> pls_reference.json, sessionInfo.txt
suppressPackageStartupMessages(library(jsonlite))

raw <- read.csv("corp_rep.csv")
raw[raw == -99] <- NA
blocks <- list(COMP = c("comp_1", "comp_2", "comp_3"), LIKE = c("like_1", "like_2", "like_3"),
               CUSA = "cusa", CUSL = c("cusl_1", "cusl_2", "cusl_3"))
cons <- names(blocks)
paths <- rbind(c("COMP", "CUSA"), c("COMP", "CUSL"), c("LIKE", "CUSA"), c("LIKE", "CUSL"),
               c("CUSA", "CUSL"))
B <- matrix(0, 4, 4, dimnames = list(cons, cons))
for (i in seq_len(nrow(paths))) B[paths[i, 1], paths[i, 2]] <- 1
items <- unlist(blocks)
X <- as.matrix(raw[, items])
for (j in seq_len(ncol(X))) X[is.na(X[, j]), j] <- mean(X[, j], na.rm = TRUE)

pls <- function(X, modes, scheme = "path", tol = 1e-12) {
  Z <- scale(X)
  W <- matrix(0, ncol(X), length(cons), dimnames = list(items, cons))
  for (c in cons) W[blocks[[c]], c] <- 1
  Y <- scale(Z %*% W)
  for (it in 1:500) {
    C <- cor(Y)
    E <- matrix(0, 4, 4, dimnames = list(cons, cons))
    for (j in cons) {
      adj <- cons[B[, j] == 1 | B[j, ] == 1]
      if (scheme == "centroid") E[adj, j] <- sign(C[adj, j])
      if (scheme == "factorial") E[adj, j] <- C[adj, j]
      if (scheme == "path") {
        pred <- cons[B[, j] == 1]
        if (length(pred)) E[pred, j] <- coef(lm(Y[, j] ~ Y[, pred, drop = FALSE]))[-1]
        succ <- cons[B[j, ] == 1]
        E[succ, j] <- C[succ, j]
      }
    }
    Zin <- Y %*% E
    Wn <- W * 0
    for (c in cons) {
      xb <- Z[, blocks[[c]], drop = FALSE]
      if (modes[[c]] == "B" && ncol(xb) > 1) {
        Wn[blocks[[c]], c] <- coef(lm(Zin[, c] ~ xb))[-1]
      } else {
        Wn[blocks[[c]], c] <- cov(xb, Zin[, c])
      }
      Wn[, c] <- Wn[, c] / sd(Z %*% Wn[, c])
    }
    done <- max(abs(Wn - W)) < tol
    W <- Wn
    Y <- Z %*% W
    if (done) break
  }
  P <- B * 0; r2 <- c()
  for (j in cons) {
    pred <- cons[B[, j] == 1]
    if (length(pred)) {
      fit <- lm(Y[, j] ~ Y[, pred, drop = FALSE])
      P[pred, j] <- coef(fit)[-1]
      r2[j] <- summary(fit)$r.squared
    }
  }
  L <- cor(Z, Y)
  list(W = W, Y = Y, P = P, r2 = r2, L = L, it = it, Z = Z)
}

flat_w <- function(res, M) sapply(cons, function(c) M[blocks[[c]], c], simplify = FALSE)
total <- function(P) solve(diag(4) - P) - diag(4)

modesA <- list(COMP = "A", LIKE = "A", CUSA = "A", CUSL = "A")
fitA <- pls(X, modesA)
out <- list()
out$n <- nrow(X)
out$n_imputed <- sum(is.na(raw[, items]))
out$weights <- flat_w(fitA, fitA$W)
out$loadings <- flat_w(fitA, fitA$L)
out$paths <- setNames(as.list(fitA$P[paths]), paste(paths[, 1], paths[, 2], sep = "->"))
Tt <- total(fitA$P); dimnames(Tt) <- list(cons, cons)
out$total_effects <- list(`COMP->CUSL` = Tt["COMP", "CUSL"], `LIKE->CUSL` = Tt["LIKE", "CUSL"],
                          `COMP->CUSA` = Tt["COMP", "CUSA"], `CUSA->CUSL` = Tt["CUSA", "CUSL"])
out$r2 <- as.list(fitA$r2)

# f2: R2 of the endogenous construct with and without each predictor (same scores)
f2 <- list()
for (i in seq_len(nrow(paths))) {
  j <- paths[i, 2]; pred <- cons[B[, j] == 1]; rest <- setdiff(pred, paths[i, 1])
  r2_in <- fitA$r2[j]
  r2_ex <- if (length(rest)) summary(lm(fitA$Y[, j] ~ fitA$Y[, rest, drop = FALSE]))$r.squared else 0
  f2[[paste(paths[i, 1], j, sep = "->")]] <- unname((r2_in - r2_ex) / (1 - r2_in))
}
out$f2 <- f2

# HTMT: mean heterotrait correlation / sqrt(product of mean monotrait correlations); 1 for one item
R <- cor(X)
mono <- sapply(cons, function(c) {
  b <- blocks[[c]]; if (length(b) == 1) 1 else mean(R[b, b][upper.tri(R[b, b])])
})
ht <- list()
for (a in 1:3) for (b in (a + 1):4) {
  ht[[paste(cons[a], cons[b], sep = "~")]] <-
    mean(R[blocks[[cons[a]]], blocks[[cons[b]]]]) / sqrt(mono[a] * mono[b])
}
out$htmt <- ht

# reliability: alpha, rhoC, rhoA (Dijkstra-Henseler), AVE
rel <- list()
for (c in cons) {
  b <- blocks[[c]]; k <- length(b)
  if (k == 1) { rel[[c]] <- list(alpha = 1, rho_c = 1, rho_a = 1, ave = 1); next }
  S <- R[b, b]; lam <- fitA$L[b, c]; w <- fitA$W[b, c]
  Soff <- S - diag(diag(S)); ww <- w %o% w
  rel[[c]] <- list(alpha = k / (k - 1) * (1 - k / sum(S)),
                   rho_c = sum(lam)^2 / (sum(lam)^2 + sum(1 - lam^2)),
                   rho_a = sum(w^2)^2 * c(t(w) %*% Soff %*% w) / c(t(w) %*% (ww - diag(diag(ww))) %*% w),
                   ave = mean(lam^2))
}
out$reliability <- rel

# Q2predict at construct level, 10 folds assigned (row - 1) %% 10
k <- 10; fold <- (seq_len(nrow(X)) - 1) %% k
exo <- c("COMP", "LIKE"); endo <- c("CUSA", "CUSL")
sse_m <- c(CUSA = 0, CUSL = 0); sse_0 <- sse_m
for (f in 0:(k - 1)) {
  tr <- fold != f; te <- fold == f
  ft <- pls(X[tr, ], modesA)
  mu <- colMeans(X[tr, ]); s <- apply(X[tr, ], 2, sd)
  ytr <- sweep(sweep(X[tr, ], 2, mu), 2, s, "/") %*% ft$W
  yte <- sweep(sweep(X[te, , drop = FALSE], 2, mu), 2, s, "/") %*% ft$W
  Tf <- total(ft$P); dimnames(Tf) <- list(cons, cons)
  pred <- yte[, exo] %*% Tf[exo, endo]
  sse_m <- sse_m + colSums((yte[, endo] - pred)^2)
  sse_0 <- sse_0 + colSums(sweep(yte[, endo], 2, colMeans(ytr[, endo]))^2)
}
out$q2_predict <- as.list(1 - sse_m / sse_0)

# IPMA on CUSL (Ringle & Sarstedt 2016): indicators rescaled to 0-100 on the 1-7 scale,
# unstandardised weights = standardised weight / indicator SD, normalised to sum 1 per block,
# rescaled construct scores, unstandardised OLS paths (with intercept), total effects on CUSL.
Xr <- (X - 1) / 6 * 100
Wu <- fitA$W / apply(X, 2, sd)
Wr <- sweep(Wu, 2, colSums(Wu), "/")
LVr <- Xr %*% Wr
Pu <- B * 0
for (j in cons) {
  pred <- cons[B[, j] == 1]
  if (length(pred)) Pu[pred, j] <- coef(lm(LVr[, j] ~ LVr[, pred, drop = FALSE]))[-1]
}
Tu <- total(Pu); dimnames(Tu) <- list(cons, cons)
out$ipma <- list(importance = as.list(Tu[c("COMP", "LIKE", "CUSA"), "CUSL"]),
                 performance = as.list(colMeans(LVr)),
                 paths_unstd = setNames(as.list(Pu[paths]), paste(paths[, 1], paths[, 2], sep = "->")),
                 weights_rescaled = flat_w(fitA, Wr))

# Mode B for COMP and LIKE (formative), path weighting
fitB <- pls(X, list(COMP = "B", LIKE = "B", CUSA = "A", CUSL = "A"))
out$mode_b <- list(weights = flat_w(fitB, fitB$W),
                   paths = setNames(as.list(fitB$P[paths]), paste(paths[, 1], paths[, 2], sep = "->")),
                   r2 = as.list(fitB$r2))
# centroid and factorial schemes, Mode A
for (sch in c("centroid", "factorial")) {
  fs <- pls(X, modesA, scheme = sch)
  out[[sch]] <- list(weights = flat_w(fs, fs$W),
                     paths = setNames(as.list(fs$P[paths]), paste(paths[, 1], paths[, 2], sep = "->")))
}

writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE), "pls_reference.json")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
