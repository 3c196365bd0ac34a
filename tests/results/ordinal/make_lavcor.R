# Reference values for crqlab.models.ordinal.polychoric on mixed and binary data, from lavaan
# lavCor (two-step polyserial and polychoric correlations). Run from this folder:  Rscript make_lavcor.R
# Data: lavaan's HolzingerSwineford1939, x1-x3 as measured (continuous) and x4-x9 cut into 3
# ordered categories (cut(x, 3, labels = FALSE)); two made-up binary pairs whose 2 x 2 table
# has one empty cell (written to binary_pairs.csv). Writes lavcor_reference.json.
suppressMessages({library(lavaan); library(jsonlite)})

hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
hsmix <- hs
for (v in paste0("x", 4:9)) hsmix[[v]] <- cut(hs[[v]], 3, labels = FALSE)

# 2 x 2 tables with one empty cell: lavaan adds 0.5 to the empty cell keeping the margins
bin <- data.frame(a = c(rep(1, 20), rep(1, 0), rep(2, 15), rep(2, 25)),
                  b = c(rep(1, 20), rep(2, 0), rep(1, 15), rep(2, 25)),
                  c = c(rep(1, 30), rep(2, 12), rep(1, 0), rep(2, 18)),
                  d = c(rep(1, 30), rep(1, 12), rep(2, 0), rep(2, 18)))
write.csv(bin, "binary_pairs.csv", row.names = FALSE)

out <- list(
  source = paste("lavaan::HolzingerSwineford1939: x1-x3 continuous, x4-x9 cut(x, 3,",
                 "labels = FALSE); binary_pairs.csv made here"),
  lavcor_mixed = unname(lavCor(hsmix, ordered = paste0("x", 4:9))),
  table_ab = matrix(as.vector(table(bin$a, bin$b)), 2),
  lavcor_ab = lavCor(bin[, c("a", "b")], ordered = c("a", "b"))[1, 2],
  table_cd = matrix(as.vector(table(bin$c, bin$d)), 2),
  lavcor_cd = lavCor(bin[, c("c", "d")], ordered = c("c", "d"))[1, 2]
)
write_json(out, "lavcor_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
