// tools/eval/act_stats.hpp — per-input-channel activation statistics of every linear layer (`qamw stats`), the input
// of activation-aware scaling (AWQ: s_j = mean|x_j|^α) and of importance weighting (mean x_j², as llama.cpp's imatrix).
//
// What is measured. One f32 forward pass over calibration windows (n_ctx tokens each, first token set to BOS, every
// position recorded, logits computed for every position so that lm_head sees all of them too). For each linear layer
// with weight W [out, in] and each input channel j < in, over all T recorded rows x of its input:
//     mean_abs_j = (1/T) Σ |x_j|,   mean_sq_j = (1/T) Σ x_j²
// accumulated in double, window by window in window order, so the result does not depend on the thread count.
// q/k/v (and gate/up) share their input, so their statistics are equal; each is stored under its own weight name.
// A tied lm_head is stored under the name it was built from, "model.embed_tokens.weight".
//
// Second moments (optional, `qamw stats --second-moments`). For each group of weights that read one input (q/k/v,
// gate/up, o alone, down alone, the tied lm_head alone; keys from tools/common/awq.hpp's awq_group_key) the full matrix
//     M = E[x xᵀ] = (1/T) Σ_t x_t x_tᵀ        [in × in]
// the input covariance (uncentred) that tools/common/feedback.hpp turns into each row's output-error metric. Streaming:
// a window's inputs of a group (n_ctx × in floats) are kept only until the end of its round of windows; then, group by
// group in parallel, each window's Gram XᵀX is formed in f32 (Eigen rank update, one window = n_ctx rows) and added to
// a double accumulator in window order, so the result does not depend on the thread count. Memory: the double
// accumulators, lower triangles only (Σ_groups in(in+1)/2 · 8 bytes: 101 MB for house-a) + per thread one window's
// inputs of every layer (n_ctx · Σ_groups in · 4 bytes: 12.6 MB for house-a at n_ctx 512) + one f32 Gram per
// worker; at the end each accumulator is freed as its f32 matrix (in² · 4 bytes, the same size) is formed.
//
// The file format: tools/eval/act_stats_file.hpp.
#pragma once

#include "act_stats_file.hpp"
#include "common/awq.hpp"
#include "llama.hpp"

#include <qamw/io/safetensors.hpp>
#include "common/parallel.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>

namespace qamw::eval {

/// Accumulates the statistics while a model runs. Build the model with `observe_inputs(factory, observer())`, then
/// call `collect`.
class act_stats_collector {
public:
    /// second_moments: also gather E[x xᵀ] per group of weights sharing an input (see the file comment).
    explicit act_stats_collector(bool second_moments = false) : second_moments_(second_moments) {}

    /// The observer to give observe_inputs. It records into the window bound to the calling thread (nothing when the
    /// model runs outside `collect`).
    input_observer observer() const {
        return [sm = second_moments_](const std::string& name, const float* x, int64_t m, int64_t in) {
            window_sums* w = current_;
            if (!w) return;
            if (sm) {
                // Keep the input once per group (q/k/v and gate/up see the same x): the first member seen.
                const std::string key = tools::awq_group_key(name);
                auto [it, fresh] = w->inputs.try_emplace(key);
                if (fresh) w->input_order.push_back(key);
                if (fresh || it->second.in == 0) {
                    it->second.in = in;
                    it->second.rows = m;
                    it->second.x.assign(x, x + m * in);
                }
            }
            auto [it, fresh] = w->layers.try_emplace(name);
            sums& s = it->second;
            if (fresh) {
                s.abs.assign(std::size_t(in), 0.0);
                s.sq.assign(std::size_t(in), 0.0);
                w->order.push_back(name);
            }
            for (int64_t i = 0; i < m; ++i) {
                const float* r = x + i * in;
                for (int64_t j = 0; j < in; ++j) {
                    const double v = r[j];
                    s.abs[std::size_t(j)] += std::fabs(v);
                    s.sq[std::size_t(j)] += v * v;
                }
            }
            s.rows += m;
        };
    }

    /// Runs `model` (built with this collector's observer) over the calibration windows: min(⌊N / n_ctx⌋,
    /// max_tokens / n_ctx) windows, first token of each set to BOS. `progress(done, total)` after each window.
    act_stats collect(const llama_model& model, const std::vector<int32_t>& tokens, int64_t n_ctx, int64_t max_tokens,
                      int threads, const std::function<void(int64_t, int64_t)>& progress = {}) {
        const int64_t V = model.config().vocab_size;
        if (n_ctx < 1) throw error(errc::invalid_argument, "--ctx must be >= 1");
        int64_t W = int64_t(tokens.size()) / n_ctx;
        if (max_tokens > 0) W = std::min(W, max_tokens / n_ctx);
        if (W <= 0)
            throw error(errc::invalid_argument, "not one full window of " + std::to_string(n_ctx) +
                                                    " calibration tokens (check --ctx and --max-tokens)");
        for (int64_t i = 0; i < W * n_ctx; ++i)
            if (tokens[std::size_t(i)] < 0 || tokens[std::size_t(i)] >= V)
                throw error(errc::invalid_argument, "token " + std::to_string(i) + " has id " +
                                                        std::to_string(tokens[std::size_t(i)]) +
                                                        ", outside the model's vocabulary [0, " + std::to_string(V) +
                                                        ")");
        const int T = int(std::min<int64_t>(resolve_threads(threads), W));
        std::vector<window_sums> slots(static_cast<std::size_t>(T));
        window_sums total;
        std::vector<llama_workspace> ws(static_cast<std::size_t>(T));
        std::vector<std::vector<float>> logits(static_cast<std::size_t>(T));
        // Rounds of T windows, one per thread; the slots are then added to the total in window order.
        for (int64_t r0 = 0; r0 < W; r0 += T) {
            const int64_t in_round = std::min<int64_t>(T, W - r0);
            parallel_for(std::size_t(in_round), T, [&](std::size_t b, std::size_t e) {
                for (std::size_t t = b; t < e; ++t) {
                    const int64_t w = r0 + int64_t(t);
                    std::vector<int32_t> tok(tokens.begin() + w * n_ctx, tokens.begin() + (w + 1) * n_ctx);
                    tok[0] = model.config().bos_token_id;
                    logits[t].resize(std::size_t(n_ctx * V));
                    slots[t].clear();
                    current_ = &slots[t];
                    try {
                        model.forward(tok.data(), n_ctx, 0, n_ctx, ws[t], logits[t].data());
                    } catch (...) {
                        current_ = nullptr;
                        throw;
                    }
                    current_ = nullptr;
                }
            });
            for (int64_t t = 0; t < in_round; ++t) total.add(slots[std::size_t(t)]);
            if (second_moments_) add_gram(slots, std::size_t(in_round), T);
            if (progress) progress(r0 + in_round, W);
        }
        act_stats out;
        out.n_ctx = n_ctx;
        out.windows = W;
        for (const std::string& name : total.order) {
            const sums& s = total.layers.at(name);
            channel_stats c;
            c.tokens = s.rows;
            c.mean_abs.resize(s.abs.size());
            c.mean_sq.resize(s.sq.size());
            for (std::size_t j = 0; j < s.abs.size(); ++j) {
                c.mean_abs[j] = float(s.abs[j] / double(s.rows));
                c.mean_sq[j] = float(s.sq[j] / double(s.rows));
            }
            out.layers.emplace_back(name, std::move(c));
        }
        for (const std::string& key : moment_order_) {
            moment_sums& s = moments_.at(key);
            second_moment sm;
            sm.in = s.in;
            sm.tokens = s.rows;
            sm.m.resize(std::size_t(s.in * s.in));
            for (int64_t i = 0; i < s.in; ++i)
                for (int64_t j = 0; j <= i; ++j) {
                    const float v = float(s.lower[packed(i, j)] / double(s.rows));
                    sm.m[std::size_t(i * s.in + j)] = sm.m[std::size_t(j * s.in + i)] = v;
                }
            out.moments.emplace_back(key, std::move(sm));
            s.lower = {};  // freed group by group: the peak holds the accumulators or the f32 results, barely both
        }
        moments_.clear();
        moment_order_.clear();
        return out;
    }

private:
    struct sums {
        std::vector<double> abs, sq;
        int64_t rows = 0;
    };
    struct group_input {
        std::vector<float> x;  ///< rows × in, row-major
        int64_t rows = 0, in = 0;
    };
    struct window_sums {
        std::unordered_map<std::string, sums> layers;
        std::vector<std::string> order;  ///< first-seen order = model order
        std::unordered_map<std::string, group_input> inputs;  ///< group key → this window's input (second moments)
        std::vector<std::string> input_order;
        void clear() {
            for (auto& kv : inputs) kv.second.in = 0;
            for (auto& kv : layers) {
                std::fill(kv.second.abs.begin(), kv.second.abs.end(), 0.0);
                std::fill(kv.second.sq.begin(), kv.second.sq.end(), 0.0);
                kv.second.rows = 0;
            }
        }
        void add(const window_sums& o) {
            for (const std::string& name : o.order) {
                const sums& s = o.layers.at(name);
                auto [it, fresh] = layers.try_emplace(name);
                if (fresh) {
                    it->second.abs.assign(s.abs.size(), 0.0);
                    it->second.sq.assign(s.sq.size(), 0.0);
                    order.push_back(name);
                }
                for (std::size_t j = 0; j < s.abs.size(); ++j) {
                    it->second.abs[j] += s.abs[j];
                    it->second.sq[j] += s.sq[j];
                }
                it->second.rows += s.rows;
            }
        }
    };
    struct moment_sums {
        std::vector<double> lower;  ///< Σ_t x_t x_tᵀ, lower triangle packed by rows (packed(i, j), j ≤ i)
        int64_t rows = 0, in = 0;
    };
    static std::size_t packed(int64_t i, int64_t j) { return std::size_t(i * (i + 1) / 2 + j); }

    /// Adds the Grams of slots [0, n) to the accumulators, window order within each group, groups in parallel.
    void add_gram(const std::vector<window_sums>& slots, std::size_t n, int threads) {
        for (const std::string& key : slots[0].input_order)
            if (!moments_.count(key)) {
                const int64_t in = slots[0].inputs.at(key).in;
                moment_sums& m = moments_[key];
                m.in = in;
                m.lower.assign(packed(in, 0), 0.0);
                moment_order_.push_back(key);
            }
        parallel_for(moment_order_.size(), threads, [&](std::size_t g0, std::size_t g1) {
            using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
            using rmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
            mat gram;
            for (std::size_t g = g0; g < g1; ++g) {
                moment_sums& m = moments_.at(moment_order_[g]);
                for (std::size_t t = 0; t < n; ++t) {
                    auto it = slots[t].inputs.find(moment_order_[g]);
                    if (it == slots[t].inputs.end() || it->second.in == 0) continue;
                    const group_input& gi = it->second;
                    if (gi.in != m.in)
                        throw error(errc::invalid_argument, "second moments of " + moment_order_[g] +
                                                                ": members of the group have different input widths");
                    Eigen::Map<const rmat> X(gi.x.data(), gi.rows, gi.in);
                    gram.setZero(gi.in, gi.in);
                    gram.selfadjointView<Eigen::Lower>().rankUpdate(X.transpose());
                    for (int64_t i = 0; i < m.in; ++i)
                        for (int64_t j = 0; j <= i; ++j) m.lower[packed(i, j)] += double(gram(i, j));
                    m.rows += gi.rows;
                }
            }
        });
    }

    bool second_moments_ = false;
    std::unordered_map<std::string, moment_sums> moments_;
    std::vector<std::string> moment_order_;
    static inline thread_local window_sums* current_ = nullptr;
};

}  // namespace qamw::eval
