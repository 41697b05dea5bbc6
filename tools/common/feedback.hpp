// tools/common/feedback.hpp — error-feedback (Hessian-aware) rounding of QAM-W codes in the rotated domain, with a
// least-squares refit of the row norms. The output is an ordinary qamw::quantized_tensor: any decoder reads it.
//
// The loss. The codec stores row i as codes ĉ_i (decoded codeword coordinates, n_pad of them) and a norm r̂_i; with
// w'_i = w_i ⊙ s (AWQ scales, s = 1 without), g = √(n_pad/B), t_i = (g / r̂_i) · H D w'_i (zero-padded) and the decoder
// ŵ_i = diag(1/s) · (ρ_i / (g·B)) · D H ĉ_i (first n coordinates; ρ_i the stored norm), the expected output error of
// the row over inputs with second moment M = E[x xᵀ] (n × n, from `qamw stats --second-moments`) is
//     E[((w_i − ŵ_i)·x)²] = (r̂_i t_i − ρ_i ĉ_i)ᵀ Σ̃ (r̂_i t_i − ρ_i ĉ_i),   Σ̃ = H D A D H / (n_pad · B),
//     A = diag(1/s) M diag(1/s) zero-padded to n_pad × n_pad
// (H the unnormalized block Hadamard, H·H = B·I; H and D symmetric). Σ̃ is computed in double by the butterflies of
// stages/fwht.hpp applied to the rows of A, then to the rows of the transposed result.
//
// The rounding (GPTQ / OPTQ, in QuIP#'s block-LDLQ form with 2 × 2 blocks = the codec's pairs). With the damped
// H̃ = Σ̃ + λ · mean(diag Σ̃) · I (λ = options.damping, default 0.01; it also makes the zero-padded coordinates and dead
// input channels invertible) written H̃ = V Vᵀ with V upper triangular (J the reversal: J H̃ J = L Lᵀ, one Cholesky
// factorisation, V = J L J; no inverse is formed), the loss of errors d = t − ĉ splits exactly over pairs b:
//     dᵀ H̃ d = ‖Vᵀ d‖² = Σ_b ‖V_bbᵀ d_b + Σ_{a<b} V_abᵀ d_a‖²,
// so pairs b = (2j, 2j+1) are fixed in order j = 0, 1, …, each to the nearest codeword of its corrected target
//     ĉ_b = nearest( t_b + (V_bbᵀ)⁻¹ Σ_{a<b} V_abᵀ d_a ),      d_b = t_b − ĉ_b
// (the same codes as GPTQ's forward updates with H̃⁻¹ = UᵀU, U = V⁻¹). Lazy blocks as in GPTQ: the sum over the pairs of
// earlier blocks is one matrix product D_[:, <b0] · V_[<b0, block] per block of `block` coordinates; inside the block
// each pair adds its own term to the rest of the block.
// With Σ̃ ∝ I (M = diag(s²) and n = n_pad) V is diagonal, nothing is fed back, and the codes are exactly those of
// qamw::encode's nearest rounding.
// Act-order (options.act_order, GPTQ's ordering by the Hessian diagonal): the pairs are fed back in descending order
// of Σ̃_{2i,2i} + Σ̃_{2i+1,2i+1} (ties by pair index) — the same algorithm on P Σ̃ Pᵀ and P t for that pair permutation
// P, whose codes are put back in the codec's pair order before packing, so the bitstream is unchanged.
//
// The norm refit. With a_i = tᵀΣ̃t, b_i = ĉᵀΣ̃t, c_i = ĉᵀΣ̃ĉ (undamped Σ̃), the loss in ρ is minimised by the
// least-squares gain ρ_i = r̂_i · b_i / c_i (kept at r̂_i when c_i ≤ 0 or the gain is not positive and finite); the new
// norms are stored again with store_norms (new shared exponent). Loss reported: r̂²a − 2r̂ρb + ρ²c with the stored ρ.
//
// Fallbacks and errors. Zero rows (r̂ = 0) feed nothing back and keep ρ = 0. mean(diag Σ̃) = 0 (no signal at all) uses
// H̃ = I (plain nearest rounding); a negative one is an error. A Cholesky failure after damping (M far from positive semi-definite) or a non-finite
// target during the feedback throws qamw::error; codes are never computed from NaN.
//
// Determinism and cost. Rows are processed in fixed chunks of `chunk_rows` (independent of the thread count), each by
// one thread with single-threaded Eigen, so the bytes are the same for every thread count. Cost for rows × n: Σ̃ and
// the Cholesky factorisation n_pad³/3 in double (n_pad² · 8 bytes each), the feedback rows · n_pad²/2 multiply-adds
// in f32, and the loss / gain products 2 · rows · n_pad² more (Σ̃ times the targets and the decoded rows; plus one for
// the nearest rounding's loss when options.measure_nearest); the refinement one more rows · n_pad² product (G = D Σ̃)
// and 2 · n_pad multiply-adds per accepted move; act-order one sort of the pairs.
#pragma once

#include <qamw/codec.hpp>
#include <qamw/error.hpp>
#include "common/codebooks.hpp"
#include "common/parallel.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw::tools {

struct feedback_options {
    double damping = 0.01;         ///< λ: H̃ = Σ̃ + λ·mean(diag Σ̃)·I
    bool refit_norms = true;       ///< least-squares gain per row under Σ̃
    bool measure_nearest = true;   ///< also compute the loss of plain nearest rounding (for the report)
    int block = 128;               ///< coordinates per lazy-update block (even, ≥ 2)
    int chunk_rows = 64;           ///< rows per work item (fixed: the result does not depend on the thread count)
    int refine_sweeps = 2;         ///< coordinate-descent sweeps over the pairs after the feedback pass (see above)
    bool act_order = true;         ///< feed back in descending order of the pairs' diagonal of Σ̃ (see above)
    int threads = 0;               ///< worker threads (0 = all cores); the result is the same bytes for every count
};

struct feedback_report {
    double signal = 0;            ///< Σ_i E[(w_i·x)²] (through the codec's stored norms)
    double loss_nearest = 0;      ///< Σ_i E[((w_i − ŵ_i)·x)²] of nearest rounding with the plain norms (0 if not measured)
    double loss_feedback = 0;     ///< the same for the feedback codes and refit norms
    double damping_abs = 0;       ///< λ·mean(diag Σ̃) added to the diagonal
    bool fallback_identity = false;  ///< Σ̃ had no signal: nearest rounding was used
};

namespace fb_detail {

using fb_rmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using fb_rmatd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// x ← H(signs ⊙ x) on each block of `block` doubles (the butterfly order of stages/fwht.hpp).
inline void fwht_double(double* x, const float* signs, std::size_t n, std::size_t block) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= double(signs[i]);
    for (std::size_t base = 0; base < n; base += block)
        for (std::size_t h = 1; h < block; h *= 2)
            for (std::size_t i = base; i < base + block; i += 2 * h)
                for (std::size_t j = i; j < i + h; ++j) {
                    const double a = x[j], b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
}

/// The order in which the coordinates are fed back: pos[j] = coordinate processed j-th, pairs (2i, 2i+1) kept
/// together. act_order: pairs by descending Σ̃_{2i,2i} + Σ̃_{2i+1,2i+1} (GPTQ's act-order; ties by pair index, so
/// the order is deterministic), else the identity.
inline std::vector<std::size_t> pair_order(const fb_rmatd& St, bool act_order) {
    const std::size_t np = std::size_t(St.rows()), m = np / 2;
    std::vector<std::size_t> pairs(m);
    for (std::size_t i = 0; i < m; ++i) pairs[i] = i;
    if (act_order) {
        const auto diag = [&St](std::size_t i) {
            return St(Eigen::Index(2 * i), Eigen::Index(2 * i)) + St(Eigen::Index(2 * i + 1), Eigen::Index(2 * i + 1));
        };
        std::stable_sort(pairs.begin(), pairs.end(), [&](std::size_t x, std::size_t y) { return diag(x) > diag(y); });
    }
    std::vector<std::size_t> pos(np);
    for (std::size_t j = 0; j < m; ++j) pos[2 * j] = 2 * pairs[j], pos[2 * j + 1] = 2 * pairs[j] + 1;
    return pos;
}

}  // namespace fb_detail

/// Σ̃ of the file comment (n_pad × n_pad, row-major double) for M (cols × cols, row-major), the stored scale values s
/// (cols floats, or empty for none) and the codec's layout and seed.
inline fb_detail::fb_rmatd rotated_covariance(const float* M, const std::vector<float>& s, const block_layout& l,
                                           std::uint64_t seed) {
    const std::size_t n = std::size_t(l.cols), np = std::size_t(l.padded), B = std::size_t(l.block);
    const std::vector<float> signs = hadamard_signs(seed, l.padded);
    fb_detail::fb_rmatd A = fb_detail::fb_rmatd::Zero(Eigen::Index(np), Eigen::Index(np));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double v = M[i * n + j];
            if (!s.empty()) v /= double(s[i]) * double(s[j]);
            A(Eigen::Index(i), Eigen::Index(j)) = v;
        }
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i = 0; i < np; ++i) fb_detail::fwht_double(A.data() + i * np, signs.data(), np, B);
        A.transposeInPlace();
    }
    A /= double(np) * double(B);
    return A;
}

/// Encodes w (rows × cols, row-major f32) like qamw::encode(w, rows, cols, p, col_scales), choosing the codes by error
/// feedback under the input second moment M (cols × cols, row-major, symmetric PSD) and refitting the norms (see the
/// file comment). Throws qamw::error for what encode throws, for a null M, and for a factorisation that fails after
/// damping. `report` (optional) receives the losses.
inline quantized_tensor encode_feedback(const float* w, std::int64_t rows, std::int64_t cols, const params& p,
                                        const float* col_scales, const float* M, const feedback_options& opt = {},
                                        feedback_report* report = nullptr) {
    if (!M) throw error(errc::invalid_argument, "encode_feedback: no second-moment matrix");
    if (opt.block < 2 || opt.block % 2 || opt.chunk_rows < 1 || !(opt.damping >= 0) || !std::isfinite(opt.damping))
        throw error(errc::invalid_argument, "encode_feedback: block must be even, chunk_rows >= 1, damping >= 0");
    // The plain encoding gives the stored norms r̂, the scales as stored, the layout, and the nearest-rounding codes.
    const codebook& cb = codebook_for(p.bits, p.family);
    quantized_tensor q = encode(cb, w, rows, cols, p, col_scales, on_threads{opt.threads});
    const quantized_tensor plain_codes_holder = opt.measure_nearest ? q : quantized_tensor{};
    const std::vector<float> s = col_scale_values(q.col_scales);
    const std::size_t n = std::size_t(cols), np = std::size_t(q.layout.padded), m = np / 2, rb = q.row_bytes();
    const std::size_t B = std::size_t(q.layout.block);
    const std::vector<float> signs = hadamard_signs(q.seed, q.layout.padded);
    const double unit = std::sqrt(double(np) / double(B));
    const Eigen::Index N = Eigen::Index(np);
    const std::size_t nrows = std::size_t(rows);
    feedback_report rep;

    // Σ̃ (undamped, for losses and gains) and V (from the damped H̃).
    fb_detail::fb_rmatd St = rotated_covariance(M, s, q.layout, q.seed);
    for (Eigen::Index i = 0; i < St.size(); ++i)
        if (!std::isfinite(St.data()[i]))
            throw error(errc::invalid_argument, "encode_feedback: the second-moment matrix holds NaN or Inf");
    const double mean_diag = St.diagonal().mean();
    if (mean_diag < 0)
        throw error(errc::invalid_argument, "encode_feedback: the second-moment matrix has a negative mean diagonal");
    // Act-order: pos[j] = the coordinate processed j-th (pairs kept together); Σ̃ and the targets are taken in that
    // order, the codes are put back in the codec's pair order before packing.
    const std::vector<std::size_t> pos = fb_detail::pair_order(St, opt.act_order);
    const auto Sp = [&St, &pos](std::size_t i, std::size_t j) { return St(Eigen::Index(pos[i]), Eigen::Index(pos[j])); };
    fb_detail::fb_rmat Vf(N, N);  // V: upper triangular, H̃ = V Vᵀ
    {
        fb_detail::fb_rmatd Hr(N, N);  // J H̃ J
        if (mean_diag > 0) {
            rep.damping_abs = opt.damping * mean_diag;
            for (std::size_t i = 0; i < np; ++i)
                for (std::size_t j = 0; j < np; ++j)
                    Hr(Eigen::Index(i), Eigen::Index(j)) = Sp(np - 1 - i, np - 1 - j);
            Hr.diagonal().array() += rep.damping_abs;
        } else {
            rep.fallback_identity = true;
            Hr.setIdentity();
        }
        Eigen::LLT<Eigen::MatrixXd> llt(Hr);
        if (llt.info() != Eigen::Success)
            throw error(errc::invalid_argument,
                        "encode_feedback: the rotated second moment is not positive definite after damping " +
                            std::to_string(opt.damping) + " (a statistics matrix far from PSD?)");
        const Eigen::MatrixXd& L = llt.matrixLLT();  // lower triangle holds L
        for (std::size_t i = 0; i < np; ++i)
            for (std::size_t j = 0; j < np; ++j)
                Vf(Eigen::Index(i), Eigen::Index(j)) =
                    j < i ? 0.0f : float(L(Eigen::Index(np - 1 - i), Eigen::Index(np - 1 - j)));
    }
    fb_detail::fb_rmat Sf(N, N);  // P Σ̃ Pᵀ in f32
    for (std::size_t i = 0; i < np; ++i)
        for (std::size_t j = 0; j < np; ++j) Sf(Eigen::Index(i), Eigen::Index(j)) = float(Sp(i, j));
    St.resize(0, 0);

    std::vector<double> a(nrows), b(nrows), c(nrows), bn(nrows), cn(nrows), rhat(nrows);
    for (std::int64_t i = 0; i < rows; ++i) rhat[std::size_t(i)] = q.norms.value(std::size_t(i));
    const std::size_t R = std::size_t(opt.chunk_rows), chunks = (std::size_t(rows) + R - 1) / R;
    const std::size_t blk = std::size_t(opt.block);
    const float* cxy = cb.xy();
    parallel_for(chunks, opt.threads, [&](std::size_t k0, std::size_t k1) {
        fb_detail::fb_rmat T, D, Acc, C, CN, Y, G;
        std::vector<float> row(np);
        std::vector<std::uint16_t> idx, pair_codes(m);
        for (std::size_t k = k0; k < k1; ++k) {
            const std::size_t r0 = k * R, nr = std::min(R, std::size_t(rows) - r0);
            // Targets t_i exactly as qamw::encode computes them (the stored scales, ref::fwht_forward, same gain).
            T.resize(Eigen::Index(nr), Eigen::Index(np));
            for (std::size_t r = 0; r < nr; ++r) {
                const std::size_t i = r0 + r;
                std::fill(row.begin(), row.end(), 0.0f);
                if (rhat[i] > 0) {
                    std::copy(w + i * n, w + i * n + n, row.begin());
                    if (!s.empty()) scale_columns(row.data(), s.data(), n);
                    ref::fwht_forward(row.data(), signs.data(), np, B, static_cast<float>(unit / rhat[i]));
                }
                for (std::size_t j = 0; j < np; ++j) T(Eigen::Index(r), Eigen::Index(j)) = row[pos[j]];
            }
            D.setZero(Eigen::Index(nr), Eigen::Index(np));
            Acc.resize(Eigen::Index(nr), Eigen::Index(blk));
            idx.assign(nr * m, 0);
            for (std::size_t b0 = 0; b0 < np; b0 += blk) {
                const std::size_t b1 = std::min(np, b0 + blk), bw = b1 - b0;
                // Σ_{a < block} V_aᵀ d_a for the block's coordinates: one product for the errors of earlier blocks
                if (b0 > 0)
                    Acc.leftCols(Eigen::Index(bw)).noalias() =
                        D.leftCols(Eigen::Index(b0)) * Vf.block(0, Eigen::Index(b0), Eigen::Index(b0), Eigen::Index(bw));
                else
                    Acc.leftCols(Eigen::Index(bw)).setZero();
                for (std::size_t col = b0; col < b1; col += 2) {
                    const float v00 = Vf(Eigen::Index(col), Eigen::Index(col)),
                                v01 = Vf(Eigen::Index(col), Eigen::Index(col + 1)),
                                v11 = Vf(Eigen::Index(col + 1), Eigen::Index(col + 1));
                    const float* V0 = Vf.data() + col * np;
                    const float* V1 = V0 + np;
                    for (std::size_t r = 0; r < nr; ++r) {
                        const float* t = T.data() + r * np;
                        float* acc = Acc.data() + r * blk;
                        // target = t_b + V_bb⁻ᵀ acc_b (V_bbᵀ lower triangular)
                        const float z0 = acc[col - b0] / v00, z1 = (acc[col + 1 - b0] - v01 * z0) / v11;
                        const float x = t[col] + z0, y = t[col + 1] + z1;
                        if (!std::isfinite(x) || !std::isfinite(y))
                            throw error(errc::non_finite, "encode_feedback: row " + std::to_string(r0 + r) +
                                                              " diverged (non-finite target at pair " +
                                                              std::to_string(col / 2) + ")");
                        const std::uint32_t id = cb.nearest(x, y);
                        idx[r * m + col / 2] = static_cast<std::uint16_t>(id);
                        if (!(rhat[r0 + r] > 0)) continue;  // zero rows feed nothing back
                        const float d0 = t[col] - cxy[2 * id], d1 = t[col + 1] - cxy[2 * id + 1];
                        D(Eigen::Index(r), Eigen::Index(col)) = d0;
                        D(Eigen::Index(r), Eigen::Index(col + 1)) = d1;
                        for (std::size_t j = col + 2; j < b1; ++j) acc[j - b0] += d0 * V0[j] + d1 * V1[j];
                    }
                }
            }
            // Coordinate descent: pair by pair, move to the nearest codeword of the pair's exact minimiser given all
            // other pairs, ĉ_b + H̃_bb⁻¹ (H̃ d)_b, when that lowers dᵀH̃d; G = Σ̃ d kept current by rank-2 updates.
            if (opt.refine_sweeps > 0) {
                G.noalias() = D * Sf;
                const float lam = float(rep.damping_abs);
                for (int sweep = 0; sweep < opt.refine_sweeps; ++sweep)
                    for (std::size_t col = 0; col < np; col += 2) {
                        const float h00 = Sf(Eigen::Index(col), Eigen::Index(col)) + lam,
                                    h01 = Sf(Eigen::Index(col), Eigen::Index(col + 1)),
                                    h11 = Sf(Eigen::Index(col + 1), Eigen::Index(col + 1)) + lam;
                        const float det = h00 * h11 - h01 * h01;
                        if (!(det > 0)) continue;
                        const float* S0 = Sf.data() + col * np;
                        const float* S1 = S0 + np;
                        for (std::size_t r = 0; r < nr; ++r) {
                            if (!(rhat[r0 + r] > 0)) continue;
                            float* d = D.data() + r * np;
                            float* g = G.data() + r * np;
                            const float g0 = g[col] + lam * d[col], g1 = g[col + 1] + lam * d[col + 1];
                            const std::uint16_t cur = idx[r * m + col / 2];
                            const float cx = cxy[2 * cur], cy = cxy[2 * cur + 1];
                            const float x = cx + (h11 * g0 - h01 * g1) / det, y = cy + (h00 * g1 - h01 * g0) / det;
                            if (!std::isfinite(x) || !std::isfinite(y)) continue;
                            const std::uint32_t id = cb.nearest(x, y);
                            if (id == cur) continue;
                            const float e0 = cx - cxy[2 * id], e1 = cy - cxy[2 * id + 1];  // Δd
                            const float delta = 2 * (e0 * g0 + e1 * g1) + e0 * e0 * h00 + 2 * e0 * e1 * h01 + e1 * e1 * h11;
                            if (!(delta < 0)) continue;
                            idx[r * m + col / 2] = static_cast<std::uint16_t>(id);
                            d[col] += e0;
                            d[col + 1] += e1;
                            for (std::size_t j = 0; j < np; ++j) g[j] += e0 * S0[j] + e1 * S1[j];
                        }
                    }
            }
            // Decoded codewords, the quadratic forms a, b, c (and those of the nearest codes), and the packed codes.
            C.resize(Eigen::Index(nr), Eigen::Index(np));
            for (std::size_t r = 0; r < nr; ++r)
                for (std::size_t j = 0; j < m; ++j) {
                    C(Eigen::Index(r), Eigen::Index(2 * j)) = cxy[2 * idx[r * m + j]];
                    C(Eigen::Index(r), Eigen::Index(2 * j + 1)) = cxy[2 * idx[r * m + j] + 1];
                }
            Y.noalias() = T * Sf;
            for (std::size_t r = 0; r < nr; ++r) {
                a[r0 + r] = T.row(Eigen::Index(r)).cast<double>().dot(Y.row(Eigen::Index(r)).cast<double>());
                b[r0 + r] = C.row(Eigen::Index(r)).cast<double>().dot(Y.row(Eigen::Index(r)).cast<double>());
            }
            if (opt.measure_nearest) {
                CN.resize(Eigen::Index(nr), Eigen::Index(np));
                std::vector<std::uint16_t> pi(m);
                for (std::size_t r = 0; r < nr; ++r) {
                    ref::unpack(plain_codes_holder.codes.data() + (r0 + r) * rb, m, p.bits, pi.data());
                    for (std::size_t j = 0; j < m; ++j) {
                        CN(Eigen::Index(r), Eigen::Index(2 * j)) = cxy[2 * pi[pos[2 * j] / 2]];
                        CN(Eigen::Index(r), Eigen::Index(2 * j + 1)) = cxy[2 * pi[pos[2 * j] / 2] + 1];
                    }
                    bn[r0 + r] = CN.row(Eigen::Index(r)).cast<double>().dot(Y.row(Eigen::Index(r)).cast<double>());
                }
                Y.noalias() = CN * Sf;
                for (std::size_t r = 0; r < nr; ++r)
                    cn[r0 + r] = CN.row(Eigen::Index(r)).cast<double>().dot(Y.row(Eigen::Index(r)).cast<double>());
            }
            Y.noalias() = C * Sf;
            for (std::size_t r = 0; r < nr; ++r) {
                c[r0 + r] = C.row(Eigen::Index(r)).cast<double>().dot(Y.row(Eigen::Index(r)).cast<double>());
                for (std::size_t j = 0; j < m; ++j) pair_codes[pos[2 * j] / 2] = idx[r * m + j];
                ref::pack(pair_codes.data(), m, p.bits, q.codes.data() + (r0 + r) * rb);
            }
        }
    });

    // Norm refit (least-squares gain under Σ̃), stored with a new shared exponent; losses with the stored norms.
    if (opt.refit_norms) {
        std::vector<double> rho(nrows);
        for (std::size_t i = 0; i < rho.size(); ++i) {
            const double g = c[i] > 0 ? b[i] / c[i] : 1.0;
            rho[i] = rhat[i] * ((std::isfinite(g) && g > 0) ? g : 1.0);
        }
        q.norms = store_norms(rho);
    }
    for (std::size_t i = 0; i < rhat.size(); ++i) {
        const double r = rhat[i], ro = q.norms.value(i);
        rep.signal += r * r * a[i];
        rep.loss_feedback += r * r * a[i] - 2 * r * ro * b[i] + ro * ro * c[i];
        if (opt.measure_nearest) rep.loss_nearest += r * r * (a[i] - 2 * bn[i] + cn[i]);
    }
    if (report) *report = rep;
    return q;
}

}  // namespace qamw::tools
