// tools/baselines/row_pipeline.hpp — the row stages every fake-quantizing baseline shares with QAM-W, composed once:
// the column scaler (stages/scaler.hpp: the scales as stored in f16, applied and undone), zero padding, and the row
// loop on the tools' workers. A baseline supplies only what is its own: a function that replaces one scaled, padded
// row by its reconstruction in place (scalar.hpp: per-block norm, rotation, scalar Lloyd-Max; rtn.hpp: optional
// rotation, absmax groups).
//
// Math. For row i: v = (w_i ⊙ s, 0, …, 0) of length `len` ≥ cols;  v̂ = quantize(i, v);  ŵ_i = v̂[0, cols) ⊘ s
// (s = 1 without column scales). Rows are independent, so the result is the same for every thread count.
#pragma once

#include "common/parallel.hpp"
#include <qamw/error.hpp>
#include <qamw/stages/scaler.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace qamw::baselines {

class row_pipeline {
public:
    /// w: rows × cols row-major f32 (kept by reference); col_scales: cols floats in the f16 normal range, or nullptr;
    /// len ≥ cols: the coded row length (zero padding after cols).
    row_pipeline(const float* w, std::int64_t rows, std::int64_t cols, const float* col_scales, std::int64_t len)
        : w_(w), rows_(static_cast<std::size_t>(rows)), cols_(static_cast<std::size_t>(cols)),
          len_(static_cast<std::size_t>(len)),
          s_(col_scales ? col_scale_values(store_col_scales(col_scales, cols_)) : std::vector<float>{}) {
        if (len < cols) throw error(errc::invalid_argument, "row_pipeline: coded length below the row length");
    }

    std::size_t rows() const { return rows_; }
    std::size_t length() const { return len_; }

    /// Row i scaled and zero-padded into row[0, length()).
    void load(std::size_t i, float* row) const {
        std::copy(w_ + i * cols_, w_ + (i + 1) * cols_, row);
        if (!s_.empty()) scale_columns(row, s_.data(), cols_);
        std::fill(row + cols_, row + len_, 0.0f);
    }

    /// For every row: load, quantize(i, row) in place, unscale into out (rows × cols floats), on `threads` workers.
    template <class Q>
    void reconstruct(const Q& quantize, int threads, float* out) const {
        parallel_for(rows_, threads, [&](std::size_t r0, std::size_t r1) {
            std::vector<float> row(len_);
            for (std::size_t i = r0; i < r1; ++i) {
                load(i, row.data());
                quantize(i, row.data());
                float* dst = out + i * cols_;
                std::copy(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(cols_), dst);
                if (!s_.empty()) unscale_columns(dst, s_.data(), cols_);
            }
        });
    }

private:
    const float* w_;
    std::size_t rows_, cols_, len_;
    std::vector<float> s_;
};

}  // namespace qamw::baselines
