// tools/eval/perplexity.hpp — perplexity and KL divergence of a llama_model on a token file (the protocol of llama.cpp's perplexity tool).
//
// Protocol. The tokens are cut into W = min(⌊N / n_ctx⌋, --windows) non-overlapping windows of n_ctx tokens; the first
// token of each window is replaced by BOS. With f = ⌊n_ctx / 2⌋, the logits at positions f−1 … n_ctx−2 predict the
// tokens at f … n_ctx−1, so each window scores n_ctx − f tokens (256 at n_ctx = 512; this is the convention of the
// DATA.md reference numbers: 649 windows × 256 = 166,144 scored tokens on wikitext2).
//     NLL_i = logsumexp(z_i) − z_i[t_i],   PPL = exp(mean NLL),   se(PPL) = PPL · sd(NLL) / √n   (delta method)
// Windows run in parallel (one prompt per thread at a time, m = n_ctx rows per matrix product); every per-position
// number is stored at its position and reduced in position order, so results do not depend on the thread count.
//
// KL divergence against a base run. Full base distributions are too large to keep (232,704 positions × 32,000 floats
// = 30 GB for heldout-gutenberg), so the base file keeps per scored position: the K most probable base tokens v_k with
// their log-probabilities, the base mass of all other tokens (the tail T) r_b = Σ_{v∈T} p_b(v), and S tokens u_s drawn
// from the base distribution restricted to the tail, P_b(·|T), with their log-probabilities. By the chain rule,
//     KL(P_b ‖ P_t) = Σ_{k<K} p_b(v_k) · log(p_b(v_k) / p_t(v_k)) + r_b · log(r_b / r_t) + r_b · KL(P_b(·|T) ‖ P_t(·|T))
// exactly (r_t = this model's mass on T). The first two terms are computed exactly; the third is estimated from the
// samples with the non-negative unbiased estimator KL(P ‖ Q) = E_P[ℓ + e^(−ℓ) − 1], ℓ = log(P/Q) (E_P[e^(−ℓ)] = ΣQ = 1):
//     KL_est = (first two terms) + r_b · (1/S) Σ_s (ℓ_s + e^(−ℓ_s) − 1),   ℓ_s = log(p_b(u_s)/r_b) − log(p_t(u_s)/r_t).
// The first two terms alone are the exact KL between the distributions coarsened onto K + 1 cells, a lower bound
// (data-processing inequality) that KL_est never goes below. Why the samples: on house-a with weights rounded to
// 4/5/6 bits (RTN, groups of 64), that lower bound with K = 32 gives only 0.74 × the exact mean KL (0.81 with K = 64,
// 0.97 with K = 1024), while K = 32 plus S = 32 samples gave the mean within 0.3 % (sampling noise over 1,024
// positions), the 99th percentile within 2 %, and a per-position RMS error of ≈ 10 % of the mean (S = 16: 14 %).
// tests/test_eval.cpp checks this against the exact full-vocabulary KL. Sampling is systematic over the tail in id order:
// u_s is the first tail id whose cumulative base mass exceeds (s + U)/S · r_b, with U = (splitmix64(tokens_hash + p)
// >> 11) · 2^−53 for scored position p (deterministic). Top-1 agreement compares the base argmax (the first stored id)
// with this model's argmax (ties: the lowest id, on both sides). The base NLL is stored too, so the paired difference
// mean(NLL − NLL_base) = ln(PPL / PPL_base) gets a standard error.
//
// Base file layout (version 1, all little-endian):
//     offset  size  field
//          0     8  magic "QAMWKLDB"
//          8     4  u32 version = 1
//         12     4  u32 K, top tokens per position, 1 ≤ K ≤ min(vocab, 65536)
//         16     4  u32 S, tail samples per position, 0 ≤ S ≤ 65536
//         20     4  u32 reserved, 0
//         24     8  i64 vocab_size
//         32     8  i64 n_ctx
//         40     8  i64 windows W
//         48     8  i64 scored positions per window = n_ctx − ⌊n_ctx/2⌋
//         56     8  u64 tokens_hash: FNV-1a 64 of the evaluated tokens (W·n_ctx int32 LE, after the BOS substitution)
//         64     8  u64 FNV-1a 64 of every byte from offset 72 to the end of the file
//         72     …  one record per scored position, window-major, each 8 + 8K + 8S bytes:
//                   f32 NLL of the scored token, f32 r_b,
//                   u32 top ids[K] (descending probability, ties by id), f32 log p_b[K],
//                   u32 sample ids[S], f32 log p_b[S]   (when r_b = 0 the samples are id 0, log p 0, and unused)
// A reader checks the magic, version, counts, exact file size, checksum and every record (ids < vocab, top ids
// distinct, log-probs finite, ≤ 0 and non-increasing over the top ids, r_b in [0, 1]); a run compared against it must
// have the same vocab, n_ctx, window count and tokens (the hash). Size at K = S = 32: 520 bytes per position
// (121 MB for heldout-gutenberg at n_ctx 512).
#pragma once

#include "llama.hpp"

#include <qamw/detail/hash.hpp>
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/mapped_file.hpp>
#include "common/parallel.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>

namespace qamw::eval {

/// Reads a token file: little-endian int32, at least one token.
inline std::vector<int32_t> read_tokens(const std::string& path) {
    io::mapped_file f(path);
    if (f.size() == 0) throw error(errc::format, path + ": empty token file");
    if (f.size() % 4 != 0)
        throw error(errc::format, path + ": size " + std::to_string(f.size()) + " is not a multiple of 4 (int32 tokens)");
    std::vector<int32_t> t(f.size() / 4);
    for (std::size_t i = 0; i < t.size(); ++i) {
        const uint8_t* p = f.data() + 4 * i;
        t[i] = static_cast<int32_t>(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    }
    return t;
}

// ---- the base file ----------------------------------------------------------------------------------------------------

/// Everything a base file holds (see the layout in the file comment). Arrays are indexed by scored position
/// p = window · per_window + j.
struct kld_base {
    uint32_t top_k = 0, samples = 0;
    int64_t vocab_size = 0, n_ctx = 0, windows = 0, per_window = 0;
    uint64_t tokens_hash = 0;
    std::vector<float> nll;          ///< [P] base NLL of the scored token
    std::vector<float> tail;         ///< [P] r_b, base mass outside the K top ids
    std::vector<uint32_t> ids;       ///< [P × K] the K most probable ids, descending
    std::vector<float> logp;         ///< [P × K] their base log-probabilities
    std::vector<uint32_t> sample_ids;   ///< [P × S] ids drawn from the base distribution restricted to the tail
    std::vector<float> sample_logp;     ///< [P × S] their base log-probabilities

    int64_t positions() const { return windows * per_window; }
    std::size_t record_bytes() const { return 8 + 8 * std::size_t(top_k) + 8 * std::size_t(samples); }
};

namespace detail {
constexpr char kld_magic[8] = {'Q', 'A', 'M', 'W', 'K', 'L', 'D', 'B'};
constexpr uint32_t kld_version = 1;
constexpr std::size_t kld_header_bytes = 72;

inline void put_u32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_f32(uint8_t* p, float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    put_u32(p, u);
}
inline uint32_t get_u32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t get_u64(const uint8_t* p) { return uint64_t(get_u32(p)) | uint64_t(get_u32(p + 4)) << 32; }
inline float get_f32(const uint8_t* p) {
    uint32_t u = get_u32(p);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
/// FNV-1a 64 of the tokens as little-endian int32 bytes (independent of the host's byte order).
inline uint64_t hash_tokens(const int32_t* t, std::size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) {
        uint8_t b[4];
        put_u32(b, static_cast<uint32_t>(t[i]));
        h = qamw::detail::fnv1a64(b, 4, h);
    }
    return h;
}
}  // namespace detail

/// Serializes `b` to the version-1 layout.
inline std::vector<uint8_t> serialize_kld_base(const kld_base& b) {
    const std::size_t P = std::size_t(std::max<int64_t>(b.positions(), 0)), K = b.top_k, S = b.samples;
    if (K == 0 || P == 0 || b.nll.size() != P || b.tail.size() != P || b.ids.size() != P * K ||
        b.logp.size() != P * K || b.sample_ids.size() != P * S || b.sample_logp.size() != P * S)
        throw error(errc::invalid_argument, "kld base: arrays do not match K, S and the position count");
    const std::size_t rec = b.record_bytes();
    std::vector<uint8_t> out(detail::kld_header_bytes + P * rec);
    uint8_t* h = out.data();
    std::memcpy(h, detail::kld_magic, 8);
    detail::put_u32(h + 8, detail::kld_version);
    detail::put_u32(h + 12, b.top_k);
    detail::put_u32(h + 16, b.samples);
    detail::put_u32(h + 20, 0);
    detail::put_u64(h + 24, uint64_t(b.vocab_size));
    detail::put_u64(h + 32, uint64_t(b.n_ctx));
    detail::put_u64(h + 40, uint64_t(b.windows));
    detail::put_u64(h + 48, uint64_t(b.per_window));
    detail::put_u64(h + 56, b.tokens_hash);
    for (std::size_t p = 0; p < P; ++p) {
        uint8_t* r = out.data() + detail::kld_header_bytes + p * rec;
        detail::put_f32(r, b.nll[p]);
        detail::put_f32(r + 4, b.tail[p]);
        r += 8;
        for (std::size_t k = 0; k < K; ++k) detail::put_u32(r + 4 * k, b.ids[p * K + k]);
        for (std::size_t k = 0; k < K; ++k) detail::put_f32(r + 4 * K + 4 * k, b.logp[p * K + k]);
        r += 8 * K;
        for (std::size_t k = 0; k < S; ++k) detail::put_u32(r + 4 * k, b.sample_ids[p * S + k]);
        for (std::size_t k = 0; k < S; ++k) detail::put_f32(r + 4 * S + 4 * k, b.sample_logp[p * S + k]);
    }
    detail::put_u64(h + 64, qamw::detail::fnv1a64(out.data() + detail::kld_header_bytes,
                                                  out.size() - detail::kld_header_bytes));
    return out;
}

/// Writes `b` atomically (the file appears complete or not at all).
inline void write_kld_base(const std::string& path, const kld_base& b) {
    std::vector<uint8_t> bytes = serialize_kld_base(b);
    io::atomic_file f(path);
    f.write(bytes.data(), bytes.size());
    f.commit();
}

/// Parses and validates a version-1 base file held in memory; `what` names it in errors.
inline kld_base parse_kld_base(const uint8_t* data, std::size_t size, const std::string& what) {
    auto bad = [&](const std::string& msg) { return error(errc::format, what + ": " + msg); };
    if (size < detail::kld_header_bytes)
        throw bad("truncated header (" + std::to_string(size) + " bytes, a KL base file has at least " +
                  std::to_string(detail::kld_header_bytes) + ")");
    if (std::memcmp(data, detail::kld_magic, 8) != 0) throw bad("not a qamw KL-divergence base file (bad magic)");
    const uint32_t version = detail::get_u32(data + 8);
    if (version != detail::kld_version)
        throw error(errc::unsupported, what + ": KL base file version " + std::to_string(version) +
                                           " (this build reads version " + std::to_string(detail::kld_version) + ")");
    kld_base b;
    b.top_k = detail::get_u32(data + 12);
    b.samples = detail::get_u32(data + 16);
    b.vocab_size = int64_t(detail::get_u64(data + 24));
    b.n_ctx = int64_t(detail::get_u64(data + 32));
    b.windows = int64_t(detail::get_u64(data + 40));
    b.per_window = int64_t(detail::get_u64(data + 48));
    b.tokens_hash = detail::get_u64(data + 56);
    const uint64_t checksum = detail::get_u64(data + 64);
    if (detail::get_u32(data + 20) != 0) throw bad("reserved header field is not 0");
    if (b.vocab_size <= 0 || b.vocab_size > (int64_t(1) << 31))
        throw bad("invalid vocab_size " + std::to_string(b.vocab_size));
    if (b.top_k == 0 || b.top_k > 65536 || int64_t(b.top_k) > b.vocab_size)
        throw bad("invalid K = " + std::to_string(b.top_k) + " (1 … min(vocab, 65536))");
    if (b.samples > 65536) throw bad("invalid S = " + std::to_string(b.samples) + " (0 … 65536)");
    if (b.n_ctx < 2 || b.n_ctx > (int64_t(1) << 24)) throw bad("invalid n_ctx " + std::to_string(b.n_ctx));
    if (b.per_window != b.n_ctx - b.n_ctx / 2) throw bad("scored positions per window do not match n_ctx");
    if (b.windows <= 0 || b.windows > (int64_t(1) << 32)) throw bad("invalid window count");
    const std::size_t K = b.top_k, S = b.samples, rec = b.record_bytes();
    const uint64_t P = uint64_t(b.windows) * uint64_t(b.per_window);
    if (P > (uint64_t(1) << 42) / rec || size != detail::kld_header_bytes + P * rec)
        throw bad("file size " + std::to_string(size) + " does not match its header (" + std::to_string(P) +
                  " positions need " + std::to_string(detail::kld_header_bytes + P * rec) +
                  " bytes): truncated or corrupted");
    if (qamw::detail::fnv1a64(data + detail::kld_header_bytes, size - detail::kld_header_bytes) != checksum)
        throw bad("checksum mismatch: the file is corrupted");
    b.nll.resize(P);
    b.tail.resize(P);
    b.ids.resize(P * K);
    b.logp.resize(P * K);
    b.sample_ids.resize(P * S);
    b.sample_logp.resize(P * S);
    std::vector<uint64_t> seen(std::size_t(b.vocab_size), UINT64_MAX);
    for (uint64_t p = 0; p < P; ++p) {
        const uint8_t* r = data + detail::kld_header_bytes + p * rec;
        auto bad_at = [&](const std::string& msg) { return bad("position " + std::to_string(p) + ": " + msg); };
        const float nll = detail::get_f32(r), tail = detail::get_f32(r + 4);
        if (!(std::isfinite(nll) && nll >= 0)) throw bad_at("NLL is not a finite number >= 0");
        if (!(tail >= 0 && tail <= 1)) throw bad_at("tail mass outside [0, 1]");
        b.nll[p] = nll;
        b.tail[p] = tail;
        r += 8;
        for (std::size_t k = 0; k < K + S; ++k) {
            const bool top = k < K;
            const uint8_t* idp = top ? r + 4 * k : r + 8 * K + 4 * (k - K);
            const uint32_t id = detail::get_u32(idp);
            const float lp = detail::get_f32(idp + 4 * (top ? K : S));
            if (id >= uint64_t(b.vocab_size))
                throw bad_at("token id " + std::to_string(id) + " >= vocab_size " + std::to_string(b.vocab_size));
            if (!std::isfinite(lp) || lp > 0) throw bad_at("log-probability not finite and <= 0");
            if (top) {
                if (seen[id] == p) throw bad_at("token id " + std::to_string(id) + " listed twice");
                seen[id] = p;
                if (k > 0 && lp > b.logp[p * K + k - 1]) throw bad_at("top log-probabilities are not descending");
                b.ids[p * K + k] = id;
                b.logp[p * K + k] = lp;
            } else {
                b.sample_ids[p * S + k - K] = id;
                b.sample_logp[p * S + k - K] = lp;
            }
        }
    }
    return b;
}

inline kld_base read_kld_base(const std::string& path) {
    io::mapped_file f(path);
    return parse_kld_base(f.data(), f.size(), path);
}

// ---- evaluation -------------------------------------------------------------------------------------------------------

struct eval_options {
    int64_t n_ctx = 512;
    int64_t max_windows = 0;        ///< 0: every full window of the token file
    int threads = 0;                ///< 0: all hardware threads
    int32_t bos = 1;
    bool save_base = false;         ///< fill eval_result::base (for --save-base)
    uint32_t base_top_k = 32;       ///< K of a saved base
    uint32_t base_samples = 32;     ///< S of a saved base
    const kld_base* compare = nullptr;  ///< non-null: KL divergence against this base run
    /// Called after each window (windows done, total) from a worker thread, serialized by a lock.
    std::function<void(int64_t, int64_t)> progress;
};

struct kld_summary {
    double mean = 0, se = 0;        ///< mean KL_est (nats) and its standard error
    double p99 = 0, max = 0;        ///< per-position KL_est: 99th percentile (linear interpolation), maximum
    double lower_bound = 0;         ///< mean of the coarse top-K lower bound (without the sampled tail term)
    double top1 = 0;                ///< fraction of positions whose argmax equals the base argmax
    double base_ppl = 0;            ///< PPL of the base run on the same positions
    double dlog_ppl = 0, dlog_ppl_se = 0;  ///< mean(NLL − NLL_base) = ln(PPL / PPL_base), paired standard error
    double base_tail_mean = 0;      ///< mean r_b
    uint32_t top_k = 0, samples = 0;
    std::vector<double> per_position;        ///< [P] KL_est of each scored position (for paired analyses)
    std::vector<double> per_position_lower;  ///< [P] the coarse top-K lower bound of each position
};

struct eval_result {
    int64_t n_ctx = 0, windows = 0, scored = 0, tokens = 0;  ///< tokens = windows · n_ctx processed
    double nll_mean = 0, nll_sd = 0;
    double ppl = 0, ppl_se = 0;
    double seconds = 0;            ///< wall time of the windows (model loading excluded)
    double tokens_per_second = 0;  ///< windows · n_ctx / seconds (every token of a window is processed)
    int threads = 0;
    std::vector<double> nll_per_position;  ///< [P] NLL of each scored position, window-major
    std::optional<kld_summary> kld;
    kld_base base;                   ///< filled when eval_options::save_base
};

namespace detail {
/// Mean and sample standard deviation of v (double accumulation in index order).
inline std::pair<double, double> mean_sd(const std::vector<double>& v) {
    const double n = double(v.size());
    double s = 0;
    for (double x : v) s += x;
    double mean = s / n, ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    return {mean, v.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0};
}

/// log p(v) as stored and compared on both sides: float(z_v − lse), clamped to ≤ 0.
inline float log_prob(float z, double lse) { return std::min(0.0f, float(double(z) - lse)); }

/// Scratch and per-row work of one thread.
/// The row is copied into an aligned buffer first: Eigen evaluates the unaligned head of a vectorized expression with
/// scalar std::exp, whose results differ from its packet exp in the last bit, so scoring a row in place would make the
/// numbers depend on where the allocator put the logits (and KL of a model against itself would not be exactly 0).
struct row_scorer {
    Eigen::ArrayXf z;              ///< [V] the logits row (64-byte aligned copy)
    Eigen::ArrayXf prob;           ///< [V] e^(z − max z)
    std::vector<uint32_t> order;   ///< [V] for the top-K selection
    std::vector<uint8_t> in_top;   ///< [V] marks the top-K ids while sampling the tail
    double sum = 0, lse = 0;       ///< Σ prob, log-sum-exp of z

    /// Returns the aligned copy of the row, which the caller uses from then on.
    const float* softmax(const float* row, int64_t V) {
        z = Eigen::Map<const Eigen::ArrayXf>(row, V);
        const float zmax = z.maxCoeff();
        prob = (z - zmax).exp();
        sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += double(prob[v]);
        lse = double(zmax) + std::log(sum);
        return z.data();
    }
    /// r = mass outside `ids` (as a float, computed identically for the base and the evaluated model).
    float tail_mass(const uint32_t* ids, std::size_t K) const {
        double top = 0;
        for (std::size_t k = 0; k < K; ++k) top += double(prob[ids[k]]);
        return float(std::max(0.0, sum - top) / sum);
    }
};
}  // namespace detail

/// The number of windows the protocol scores: min(⌊tokens / n_ctx⌋, max_windows), or all full windows when
/// max_windows is 0 (n_ctx ≥ 1).
inline int64_t window_count(std::size_t tokens, int64_t n_ctx, int64_t max_windows) {
    const int64_t W = int64_t(tokens) / n_ctx;
    return max_windows > 0 ? std::min(W, max_windows) : W;
}

/// Computes the logits window `w` is scored on: tokens tok[0 … n) (BOS substituted) are one causal prompt, and the
/// logits of positions [n/2 − 1, n − 1) go to `logits` (row-major, vocab_size columns), as llama_model::forward
/// writes them; `ws` is the calling thread's workspace. Called from several threads at once (for different windows).
using window_logits = std::function<void(int64_t w, const int32_t* tok, int64_t n, llama_workspace& ws, float* logits)>;

/// Runs the protocol of the file comment with the logits that `logits_of` computes for each window (the estimator,
/// windows and scoring shared by every caller; e.g. tools/common/sensitivity.hpp starts passes at a cached layer).
/// Throws qamw::error on invalid options, out-of-vocabulary tokens, or a base run that does not match (vocab, n_ctx,
/// windows, tokens).
inline eval_result evaluate_perplexity(const llama_model& model, const std::vector<int32_t>& tokens,
                                       const eval_options& opt, const window_logits& logits_of) {
    const llama_config& cfg = model.config();
    const int64_t n = opt.n_ctx, V = cfg.vocab_size;
    if (n < 2) throw error(errc::invalid_argument, "--ctx must be at least 2, got " + std::to_string(n));
    if (cfg.max_position_embeddings > 0 && n > cfg.max_position_embeddings)
        throw error(errc::invalid_argument, "--ctx " + std::to_string(n) +
                                                " exceeds the model's max_position_embeddings " +
                                                std::to_string(cfg.max_position_embeddings));
    if (opt.max_windows < 0) throw error(errc::invalid_argument, "--windows must be >= 0");
    if (opt.bos < 0 || opt.bos >= V) throw error(errc::invalid_argument, "BOS id outside the vocabulary");
    if (int64_t(tokens.size()) < n)
        throw error(errc::invalid_argument, "the token file holds " + std::to_string(tokens.size()) +
                                                " tokens, fewer than one window of --ctx " + std::to_string(n));
    const int64_t W = window_count(tokens.size(), n, opt.max_windows);
    for (int64_t i = 0; i < W * n; ++i)
        if (tokens[std::size_t(i)] < 0 || tokens[std::size_t(i)] >= V)
            throw error(errc::invalid_argument, "token " + std::to_string(i) + " has id " +
                                                    std::to_string(tokens[std::size_t(i)]) +
                                                    ", outside the model's vocabulary [0, " + std::to_string(V) + ")");
    const int64_t first = n / 2, SW = n - first, P = W * SW;
    const std::size_t K = opt.save_base ? opt.base_top_k : 0, S = opt.save_base ? opt.base_samples : 0;
    if (opt.save_base && (K == 0 || K > 65536 || int64_t(K) > V || S > 65536))
        throw error(errc::invalid_argument, "base file: K must be in 1 … min(vocab, 65536) and S in 0 … 65536");

    std::vector<int32_t> windows(tokens.begin(), tokens.begin() + W * n);
    for (int64_t w = 0; w < W; ++w) windows[std::size_t(w * n)] = opt.bos;
    const uint64_t hash = detail::hash_tokens(windows.data(), windows.size());

    const kld_base* base = opt.compare;
    if (base) {
        auto mismatch = [](const std::string& what, int64_t mine, int64_t theirs) {
            return error(errc::invalid_argument, "the KL base run does not match this run: " + what + " " +
                                                     std::to_string(theirs) + " in the base file, " +
                                                     std::to_string(mine) + " here");
        };
        if (base->vocab_size != V) throw mismatch("vocab_size", V, base->vocab_size);
        if (base->n_ctx != n) throw mismatch("n_ctx", n, base->n_ctx);
        if (base->windows != W) throw mismatch("windows", W, base->windows);
        if (base->tokens_hash != hash)
            throw error(errc::invalid_argument, "the KL base run does not match this run: it was computed on other tokens");
    }

    eval_result res;
    std::vector<double> nll(std::size_t(P), 0.0), kl(base ? std::size_t(P) : 0), kl_lower(kl.size()),
        dnll(kl.size());
    std::vector<uint8_t> agree(kl.size());
    if (opt.save_base) {
        kld_base& o = res.base;
        o.top_k = uint32_t(K);
        o.samples = uint32_t(S);
        o.vocab_size = V;
        o.n_ctx = n;
        o.windows = W;
        o.per_window = SW;
        o.tokens_hash = hash;
        o.nll.resize(std::size_t(P));
        o.tail.resize(std::size_t(P));
        o.ids.resize(std::size_t(P) * K);
        o.logp.resize(std::size_t(P) * K);
        o.sample_ids.resize(std::size_t(P) * S);
        o.sample_logp.resize(std::size_t(P) * S);
    }

    // One scored position: z = logits row, p = position index, target = scored token.
    auto score = [&](detail::row_scorer& rs, const float* row, std::size_t p, int32_t target) {
        const float* z = rs.softmax(row, V);
        nll[p] = rs.lse - double(z[target]);
        if (opt.save_base) {
            kld_base& o = res.base;
            rs.order.resize(std::size_t(V));
            std::iota(rs.order.begin(), rs.order.end(), 0u);
            auto before = [z](uint32_t a, uint32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
            std::nth_element(rs.order.begin(), rs.order.begin() + std::ptrdiff_t(K - 1), rs.order.end(), before);
            std::sort(rs.order.begin(), rs.order.begin() + std::ptrdiff_t(K), before);
            uint32_t* ids = o.ids.data() + p * K;
            for (std::size_t k = 0; k < K; ++k) {
                ids[k] = rs.order[k];
                o.logp[p * K + k] = detail::log_prob(z[ids[k]], rs.lse);
            }
            const float rb = rs.tail_mass(ids, K);
            o.tail[p] = rb;
            o.nll[p] = float(nll[p]);
            uint32_t* sid = o.sample_ids.data() + p * S;
            float* slp = o.sample_logp.data() + p * S;
            std::fill(sid, sid + S, 0u);
            std::fill(slp, slp + S, 0.0f);
            if (rb > 0 && S > 0) {  // systematic sampling of P_b(·|tail) in id order
                rs.in_top.assign(std::size_t(V), 0);
                for (std::size_t k = 0; k < K; ++k) rs.in_top[ids[k]] = 1;
                double total = 0;
                for (int64_t v = 0; v < V; ++v)
                    if (!rs.in_top[std::size_t(v)]) total += double(rs.prob[v]);
                const double u = double(qamw::detail::splitmix64(hash + p) >> 11) * 0x1p-53;
                double cum = 0;
                std::size_t s = 0;
                int64_t last = -1;
                for (int64_t v = 0; v < V && s < S; ++v) {
                    if (rs.in_top[std::size_t(v)] || rs.prob[v] == 0) continue;
                    cum += double(rs.prob[v]);
                    last = v;
                    for (; s < S && (double(s) + u) / double(S) * total < cum; ++s) {
                        sid[s] = uint32_t(v);
                        slp[s] = detail::log_prob(z[v], rs.lse);
                    }
                }
                for (; s < S && last >= 0; ++s) {  // rounding left the last threshold just above the sum
                    sid[s] = uint32_t(last);
                    slp[s] = detail::log_prob(z[last], rs.lse);
                }
                if (last < 0) o.tail[p] = 0;  // r_b > 0 was rounding only: every tail probability underflowed
            }
        }
        if (base) {
            const std::size_t BK = base->top_k, BS = base->samples;
            const uint32_t* ids = base->ids.data() + p * BK;
            const float* lpb = base->logp.data() + p * BK;
            double d = 0;
            for (std::size_t k = 0; k < BK; ++k) {
                const float lpt = detail::log_prob(z[ids[k]], rs.lse);
                d += std::exp(double(lpb[k])) * (double(lpb[k]) - double(lpt));
            }
            const double rb = base->tail[p];
            const double rt = std::max(double(rs.tail_mass(ids, BK)), double(std::numeric_limits<float>::min()));
            if (rb > 0) d += rb * std::log(rb / rt);
            kl_lower[p] = d;
            if (rb > 0 && BS > 0) {
                const uint32_t* sid = base->sample_ids.data() + p * BS;
                const float* slp = base->sample_logp.data() + p * BS;
                const double lrb = std::log(rb), lrt = std::log(rt);
                double acc = 0;
                for (std::size_t s = 0; s < BS; ++s) {
                    const double l = (double(slp[s]) - lrb) - (double(detail::log_prob(z[sid[s]], rs.lse)) - lrt);
                    acc += l + std::expm1(-l);
                }
                d += rb * acc / double(BS);
            }
            kl[p] = d;
            int64_t arg = 0;
            for (int64_t v = 1; v < V; ++v)
                if (z[v] > z[arg]) arg = v;
            agree[p] = uint32_t(arg) == ids[0];
            dnll[p] = double(float(nll[p])) - double(base->nll[p]);
        }
    };

    const int threads = int(std::min<int64_t>(resolve_threads(opt.threads), W));
    std::atomic<int64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex progress_lock;
    int64_t done = 0;
    auto t0 = std::chrono::steady_clock::now();
    parallel_for(std::size_t(threads), threads, [&](std::size_t, std::size_t) {
        llama_workspace ws;
        detail::row_scorer rs;
        std::vector<float> logits(static_cast<std::size_t>(SW * V));
        try {
            for (int64_t w; !failed && (w = next++) < W;) {
                const int32_t* tok = windows.data() + w * n;
                logits_of(w, tok, n, ws, logits.data());
                for (int64_t j = 0; j < SW; ++j)
                    score(rs, logits.data() + j * V, std::size_t(w * SW + j), tok[first + j]);
                if (opt.progress) {
                    std::lock_guard<std::mutex> lock(progress_lock);
                    opt.progress(++done, W);
                }
            }
        } catch (...) {
            failed = true;
            throw;
        }
    });

    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.threads = threads;
    res.n_ctx = n;
    res.windows = W;
    res.scored = P;
    res.tokens = W * n;
    res.tokens_per_second = res.seconds > 0 ? double(res.tokens) / res.seconds : 0;
    auto [m, sd] = detail::mean_sd(nll);
    res.nll_mean = m;
    res.nll_sd = sd;
    res.ppl = std::exp(m);
    res.ppl_se = res.ppl * sd / std::sqrt(double(P));
    res.nll_per_position = std::move(nll);
    if (base) {
        kld_summary k;
        k.top_k = base->top_k;
        k.samples = base->samples;
        auto [km, ksd] = detail::mean_sd(kl);
        k.mean = km;
        k.se = ksd / std::sqrt(double(P));
        k.lower_bound = detail::mean_sd(kl_lower).first;
        std::vector<double> sorted = kl;
        std::sort(sorted.begin(), sorted.end());
        const double pos = 0.99 * double(P - 1);
        const std::size_t lo = std::size_t(pos), hi = std::min(lo + 1, sorted.size() - 1);
        k.p99 = sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
        k.max = sorted.back();
        k.top1 = double(std::accumulate(agree.begin(), agree.end(), int64_t(0))) / double(P);
        double bsum = 0, tsum = 0;
        for (int64_t p = 0; p < P; ++p) bsum += base->nll[std::size_t(p)], tsum += base->tail[std::size_t(p)];
        k.base_ppl = std::exp(bsum / double(P));
        k.base_tail_mean = tsum / double(P);
        auto [dm, dsd] = detail::mean_sd(dnll);
        k.dlog_ppl = dm;
        k.dlog_ppl_se = dsd / std::sqrt(double(P));
        k.per_position = std::move(kl);
        k.per_position_lower = std::move(kl_lower);
        res.kld = std::move(k);
    }
    return res;
}

/// The protocol of the file comment on the whole model's forward pass.
inline eval_result evaluate_perplexity(const llama_model& model, const std::vector<int32_t>& tokens,
                                       const eval_options& opt) {
    return evaluate_perplexity(model, tokens, opt, [&model](int64_t, const int32_t* tok, int64_t n, llama_workspace& ws,
                                                            float* logits) {
        model.forward(tok, n, n / 2 - 1, n - 1, ws, logits);
    });
}

}  // namespace qamw::eval
