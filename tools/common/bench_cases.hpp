// tools/common/bench_cases.hpp — the workloads measured by bench/ (Google Benchmark) and `qamw bench` (a table), so the
// two report the same things: encode, decode and fused products of QAM-W matrices, beside the bounds and baselines of
// the same matrix measured in the same run: a plain read of the packed bytes, Eigen f32 GEMV / GEMM, and a bf16 GEMV.
#pragma once

#include "common/random.hpp"

#include "common/codebooks.hpp"
#include "common/parallel.hpp"
#include "common/product.hpp"

#include <qamw/codec.hpp>
#include <qamw/detail/half.hpp>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qamw::tools {

/// One matrix with everything the workloads need, built once per (shape, k, codebook family).
struct bench_matrix {
    std::int64_t rows, cols;
    int bits;
    std::vector<float> w;   ///< f32 weights (Gaussian, σ = 0.02)
    quantized_tensor q;
    std::unique_ptr<matmul> mm;         ///< the f32-lookup products
    std::unique_ptr<matmul> imm;        ///< the same matrix on the integer path (qamw/engine.hpp)
    std::vector<std::uint16_t> bf16;  ///< the same weights in bf16
    const kernel_table* kernels;        ///< the instruction set every workload runs on

    bench_matrix(std::int64_t r, std::int64_t c, int k, int threads, const kernel_table& kt,
                 codebook_family family = codebook_family::lm2d)
        : rows(r), cols(c), bits(k) {
        w = gaussian_vector(7, static_cast<std::size_t>(r * c), 0.02);
        params p;
        p.bits = k;
        p.family = family;
        kernels = &kt;
        q = encode(codebook_for(k, family), w.data(), r, c, p, nullptr, on_threads{threads}, kt);
        mm = std::make_unique<matmul>(q.view(), kt);
        imm = std::make_unique<matmul>(q.view(), kt, true);
        bf16.resize(w.size());
        for (std::size_t i = 0; i < w.size(); ++i) bf16[i] = detail::f32_to_bf16(w[i]);
    }
    double weights() const { return double(rows) * double(cols); }
    std::size_t packed_bytes() const { return q.codes.size(); }
};

/// Sum of the packed code bytes read as 64-bit words: the bandwidth bound of a fused GEMV.
inline std::uint64_t read_bytes(const std::uint8_t* p, std::size_t n, int threads) {
    std::atomic<std::uint64_t> total{0};
    std::size_t words = n / 8;
    parallel_for(words, threads, [&](std::size_t b, std::size_t e) {
        using batch = xsimd::batch<std::uint64_t>;
        batch acc(std::uint64_t(0));
        std::size_t i = b;
        const auto* w = reinterpret_cast<const std::uint64_t*>(p);
        for (; i + batch::size <= e; i += batch::size) acc += batch::load_unaligned(w + i);
        std::uint64_t s = xsimd::hadd(acc);
        for (; i < e; ++i) s += w[i];
        total += s;
    });
    return total;
}

/// y = W x with W in f32 (Eigen), rows split over threads.
inline void eigen_gemv(const bench_matrix& m, const float* x, float* y, int threads) {
    using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> W(m.w.data(), m.rows, m.cols);
    Eigen::Map<const Eigen::VectorXf> xv(x, m.cols);
    parallel_for(static_cast<std::size_t>(m.rows), threads, [&](std::size_t r0, std::size_t r1) {
        Eigen::Map<Eigen::VectorXf>(y + r0, Eigen::Index(r1 - r0)).noalias() =
            W.middleRows(Eigen::Index(r0), Eigen::Index(r1 - r0)) * xv;
    }, 256);
}

/// Y (n × rows) = X (n × cols) Wᵀ in f32 (Eigen), output columns split over threads.
inline void eigen_gemm(const bench_matrix& m, const float* x, std::size_t n, float* y, int threads) {
    using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> W(m.w.data(), m.rows, m.cols), X(x, Eigen::Index(n), m.cols);
    Eigen::Map<mat> Y(y, Eigen::Index(n), m.rows);
    parallel_for(static_cast<std::size_t>(m.rows), threads, [&](std::size_t r0, std::size_t r1) {
        Y.middleCols(Eigen::Index(r0), Eigen::Index(r1 - r0)).noalias() =
            X * W.middleRows(Eigen::Index(r0), Eigen::Index(r1 - r0)).transpose();
    }, 256);
}

/// y = W x with W in bf16, widened to f32 on the fly (16-bit loads, shift, FMA): the unquantized 2-byte baseline.
inline void bf16_gemv(const bench_matrix& m, const float* x, float* y, int threads) {
    using fb = xsimd::batch<float>;
    using ub = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = fb::size;
    const std::size_t cols = static_cast<std::size_t>(m.cols);
    parallel_for(static_cast<std::size_t>(m.rows), threads, [&](std::size_t r0, std::size_t r1) {
        alignas(64) std::uint32_t wide[W];
        for (std::size_t i = r0; i < r1; ++i) {
            const std::uint16_t* row = m.bf16.data() + i * cols;
            fb acc(0.0f);
            std::size_t j = 0;
            for (; j + W <= cols; j += W) {
                for (std::size_t l = 0; l < W; ++l) wide[l] = std::uint32_t(row[j + l]) << 16;
                acc = xsimd::fma(xsimd::bitwise_cast<fb>(ub::load_aligned(wide)), fb::load_unaligned(x + j), acc);
            }
            float s = xsimd::hadd(acc);
            for (; j < cols; ++j) s += detail::bf16_to_f32(row[j]) * x[j];
            y[i] = s;
        }
    }, 256);
}

}  // namespace qamw::tools
