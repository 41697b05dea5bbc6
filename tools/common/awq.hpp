// tools/common/awq.hpp — activation-aware scale search (AWQ style) through the real QAM-W codec.
//
// What is searched. The matrices of a group read the same input x (q/k/v; gate/up; o alone; down alone), so they share
// one set of per-input-channel scales. For each α of the grid {0, 0.05, …, 1}:
//     m_j = max(mean|x_j|, 1e−8 · max_j mean|x_j|)                     (zero channels would get scale 0)
//     s_j = m_j^α / √(max_j m_j^α · min_j m_j^α), clamped to [2^−14, 65504]   (geometric centre 1; the f16 normal range
//                                                                         qamw::encode requires)
//     Ŵ   = decode(encode(W, p, s))     for every matrix of the group   (W·diag(s) quantized, diag(1/s) undone)
//     err(α) = Σ_matrices Σ_i Σ_j E[x_j²] · (W_ij − Ŵ_ij)²
// err is the expected squared output error E‖(W − Ŵ)x‖² when the input channels are uncorrelated (the diagonal of the
// input covariance), the same importance llama.cpp's imatrix assigns to a column. α = 0 is plain encoding (no scales
// are passed to the codec, so it is bit-identical to quantizing without AWQ); the best α minimises err, the smaller α
// winning a tie. The result's scales are what to pass to qamw::encode for every matrix of the group (empty when the
// best α is 0: no scales, which also saves their 16 bits per column).
//
// Cost: 21 encode + decode passes over the group's weights. Encoding runs on `threads` workers (qamw::encode), the
// error on the same number of workers, row by row in double and summed in row order, so the result is the same for
// every thread count.
#pragma once

#include <qamw/codec.hpp>
#include <qamw/error.hpp>
#include "common/codebooks.hpp"
#include "common/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qamw::tools {

struct awq_result {
    double alpha = 0;                               ///< best α of the grid
    std::vector<float> scales;                      ///< s for the best α (cols floats), empty when α = 0
    double err_plain = 0, err_best = 0;             ///< err at α = 0 and at the best α
    std::vector<std::pair<double, double>> curve;   ///< (α, err) for every α evaluated, in grid order
};

/// The scales of the file comment for one α (cols floats); mean_abs must be finite and ≥ 0 with a positive maximum.
inline std::vector<float> awq_scales(const std::vector<float>& mean_abs, double alpha) {
    double mx = 0;
    for (float v : mean_abs) mx = std::max(mx, double(v));
    const double floor = 1e-8 * mx;
    std::vector<double> logm(mean_abs.size());
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t j = 0; j < mean_abs.size(); ++j) {
        logm[j] = std::log(std::max(double(mean_abs[j]), floor));
        lo = std::min(lo, logm[j]), hi = std::max(hi, logm[j]);
    }
    const double centre = alpha * (lo + hi) / 2;
    std::vector<float> s(mean_abs.size());
    for (std::size_t j = 0; j < s.size(); ++j)
        s[j] = static_cast<float>(std::min(65504.0, std::max(0x1p-14, std::exp(alpha * logm[j] - centre))));
    return s;
}

/// Σ_i Σ_j mean_sq_j · (w_ij − ŵ_ij)² of one matrix coded as q (decoded on `threads` workers, summed in row order).
inline double awq_matrix_error(const quantized_tensor& q, const float* w, const std::vector<float>& mean_sq,
                               int threads) {
    const std::size_t rows = static_cast<std::size_t>(q.rows), n = static_cast<std::size_t>(q.cols());
    std::vector<double> per_row(rows);
    const std::size_t chunk = 16;  // rows decoded at a time
    const prepared_tensor t(q.view());
    parallel_for(rows, threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> buf(chunk * n), scratch(t.decode_scratch_floats());
        for (std::size_t b = r0; b < r1; b += chunk) {
            const std::size_t e = std::min(r1, b + chunk);
            decode_rows(t, static_cast<std::int64_t>(b), static_cast<std::int64_t>(e), buf.data(), scratch.data());
            for (std::size_t i = b; i < e; ++i) {
                const float* a = w + i * n;
                const float* h = buf.data() + (i - b) * n;
                double s = 0;
                for (std::size_t j = 0; j < n; ++j) {
                    const double d = double(a[j]) - double(h[j]);
                    s += double(mean_sq[j]) * d * d;
                }
                per_row[i] = s;
            }
        }
    });
    double total = 0;
    for (double v : per_row) total += v;
    return total;
}

/// The search of the file comment for a group of matrices (weights[i]: rows[i] × cols, row-major f32, coded with p[i]:
/// the members of a group may be coded at different k under a bit allocation) that read the same input with
/// per-channel statistics mean_abs = mean|x_j| and mean_sq = E[x_j²] (cols floats each, finite, ≥ 0). Throws
/// qamw::error (invalid_argument) for inconsistent sizes or statistics, and whatever qamw::encode throws.
inline awq_result awq_search(const std::vector<const float*>& weights, const std::vector<std::int64_t>& rows,
                             std::int64_t cols, const std::vector<float>& mean_abs, const std::vector<float>& mean_sq,
                             const std::vector<params>& p, int threads) {
    auto bad = [](const std::string& m) { return error(errc::invalid_argument, "awq_search: " + m); };
    if (weights.empty() || weights.size() != rows.size() || weights.size() != p.size())
        throw bad("needs one or more matrices and one row count and one codec parameter set per matrix");
    if (cols < 1 || mean_abs.size() != static_cast<std::size_t>(cols) || mean_sq.size() != mean_abs.size())
        throw bad("mean_abs and mean_sq must hold cols = " + std::to_string(cols) + " values each (got " +
                  std::to_string(mean_abs.size()) + " and " + std::to_string(mean_sq.size()) + ")");
    for (std::size_t m = 0; m < weights.size(); ++m)
        if (!weights[m] || rows[m] < 1) throw bad("matrix " + std::to_string(m) + " is null or has no rows");
    double mx = 0;
    for (std::size_t j = 0; j < mean_abs.size(); ++j) {
        if (!(std::isfinite(mean_abs[j]) && mean_abs[j] >= 0 && std::isfinite(mean_sq[j]) && mean_sq[j] >= 0))
            throw bad("channel " + std::to_string(j) + " has a negative, NaN or infinite statistic");
        mx = std::max(mx, double(mean_abs[j]));
    }

    auto group_error = [&](const float* s) {
        double e = 0;
        for (std::size_t m = 0; m < weights.size(); ++m) {
            quantized_tensor q = encode(codebook_for(p[m].bits, p[m].family), weights[m], rows[m], cols, p[m], s, on_threads{threads});
            e += awq_matrix_error(q, weights[m], mean_sq, threads);
        }
        return e;
    };

    awq_result r;
    r.err_plain = r.err_best = group_error(nullptr);
    r.curve.emplace_back(0.0, r.err_plain);
    if (mx == 0) return r;  // no activation information: nothing to scale by
    for (int i = 1; i <= 20; ++i) {
        const double alpha = i / 20.0;
        std::vector<float> s = awq_scales(mean_abs, alpha);
        const double e = group_error(s.data());
        r.curve.emplace_back(alpha, e);
        if (e < r.err_best) r.err_best = e, r.alpha = alpha, r.scales = std::move(s);
    }
    return r;
}

/// The search with every matrix of the group coded with the same parameters p.
inline awq_result awq_search(const std::vector<const float*>& weights, const std::vector<std::int64_t>& rows,
                             std::int64_t cols, const std::vector<float>& mean_abs, const std::vector<float>& mean_sq,
                             const params& p, int threads) {
    return awq_search(weights, rows, cols, mean_abs, mean_sq, std::vector<params>(weights.size(), p), threads);
}

/// The key of the group a weight belongs to: "<prefix>.qkv" for q_proj/k_proj/v_proj, "<prefix>.gate_up" for
/// gate_proj/up_proj (HF Llama names, e.g. "model.layers.3.self_attn.q_proj.weight" → "model.layers.3.self_attn.qkv");
/// any other weight is a group of its own, keyed by its name.
inline std::string awq_group_key(const std::string& weight_name) {
    static const std::pair<const char*, const char*> members[] = {
        {"q_proj", "qkv"}, {"k_proj", "qkv"}, {"v_proj", "qkv"}, {"gate_proj", "gate_up"}, {"up_proj", "gate_up"}};
    const std::string suffix = ".weight";
    if (weight_name.size() <= suffix.size() ||
        weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) != 0)
        return weight_name;
    const std::string stem = weight_name.substr(0, weight_name.size() - suffix.size());
    const std::size_t dot = stem.rfind('.');
    const std::string leaf = dot == std::string::npos ? stem : stem.substr(dot + 1);
    for (const auto& [name, group] : members)
        if (leaf == name) return (dot == std::string::npos ? std::string() : stem.substr(0, dot + 1)) + group;
    return weight_name;
}

}  // namespace qamw::tools
