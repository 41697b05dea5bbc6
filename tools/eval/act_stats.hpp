// tools/eval/act_stats.hpp — per-input-channel activation statistics of every linear layer (`qamw stats`), the input
// of activation-aware scaling (AWQ: s_j = mean|x_j|^α) and of importance weighting (mean x_j², as llama.cpp's imatrix).
//
// What is measured. The f32 forward pass over calibration windows (n_ctx tokens each, first token set to BOS, every
// position recorded, including the output projection's input at every position). For each linear layer with weight
// W [out, in] and each input channel j < in, over all T recorded rows x of its input:
//     mean_abs_j = (1/T) Σ |x_j|,   mean_sq_j = (1/T) Σ x_j²
// accumulated in double per window, the windows' sums added in window order, so the result does not depend on the
// thread count. q/k/v (and gate/up) share their input, so their statistics are equal; each is stored under its own
// weight name. A tied lm_head is stored under the name it was built from, "model.embed_tokens.weight".
//
// Second moments (optional, `qamw stats --second-moments`). For each group of weights that read one input (q/k/v,
// gate/up, o alone, down alone, the tied lm_head alone; keys from tools/common/awq.hpp's awq_group_key) the full matrix
//     M = E[x xᵀ] = (1/T) Σ_t x_t x_tᵀ        [in × in]
// the input covariance (uncentred) that tools/common/feedback.hpp turns into each row's output-error metric. Each
// window's Gram XᵀX is formed in f32 (Eigen rank update, one window = n_ctx rows) and added to a double accumulator
// (lower triangle) in window order, so the result does not depend on the thread count.
//
// Layer by layer (as GPTQ gathers its Hessians). The pass runs in stages: every window is embedded once; then for each
// decoder layer l, layer l runs over every window's hidden state, after which that layer's statistics are complete:
// they are converted, written to the output file at their places (act_stats_writer, tools/eval/act_stats_file.hpp;
// the second moments in pieces of rows, never as a whole f32 matrix) and freed before layer l+1 starts. Last the head:
// the final norm, whose output is recorded as the output projection's input (the projection itself is not run: its
// logits are not needed; for house-a it was 16.8 of the pass's 58 GFLOP per window with second moments). Windows run
// in rounds of one window per thread; after each round the windows' sums and Grams are added in window order (the
// Grams of one group computed in parallel, one window per thread, then added with the triangle's rows split between
// the threads). Between stages the hidden states of all windows (W · n_ctx · hidden_size floats) are kept in a
// scratch file next to the output (tools/common/scratch_file.hpp: removed at the end, on an error and on SIGINT,
// SIGTERM or SIGHUP), read and written one window at a time per thread. Each stage runs the operations of
// llama_model::forward, and every addition happens in the order of the former one-pass collection, so the output is
// the same, byte for byte (`cmp`, docs/FEEDBACK.md).
//
// Memory bound, from the code below (d = hidden_size, q = q_features, k = kv_features, f = intermediate_size,
// n = n_ctx; floats 4 bytes, doubles 8), besides the model and the token ids:
//     the current layer's accumulators   8 · (2 · d(d+1)/2 + q(q+1)/2 + f(f+1)/2)    (second moments only; qkv,
//                                        gate_up, o, down; in the head stage the lm_head group's 8 · d(d+1)/2)
//     per thread: the window's inputs of the layer's groups   4 · n · (2d + q + f)    (second moments only)
//                 one f32 Gram of the widest group            4 · f²                  (second moments only)
//                 the forward workspace (llama_workspace)     4 · n · (3d + 2q + 2k + 2f + min(n, 64))
//                 the window's per-channel sums               16 · (5d + q + f)
//     the layer's per-channel sums                             16 · (5d + q + f)
//     one piece of a second moment being written               ≤ 1 MiB (+ the same again as little-endian bytes)
// Nothing grows with the number of calibration tokens: their hidden states are on disk (4 · W · n · d bytes).
// A 7B-shaped model (d = q = k = 4096, f = 11008, n = 512): accumulators 686 MB (in the old one-pass collection all 32
// layers' at once: 22 GB), per thread 47.7 MB of inputs + 485 MB of Gram + 104 MB of workspace; 262,144 calibration
// tokens make a 4.3 GB scratch file.
// Measured on house-a, --second-moments --threads 2, one pass (main at e44cb85) → layer by layer, on a shared 2-core
// machine (wall times noisy; medians of 3): 65,536 tokens: peak RSS 680 → 257 MB, wall 112.7 → 82.5 s, user CPU
// 53.8 → 40.9 s; all 262,144 tokens (one run each): 680 → 257 MB, 429 → 250 s, 220 → 162 s; outputs identical
// (`cmp`). Commands and more: docs/FEEDBACK.md.
//
// The file format: tools/eval/act_stats_file.hpp.
#pragma once

#include "act_stats_file.hpp"
#include "common/awq.hpp"
#include "common/parallel.hpp"
#include "common/scratch_file.hpp"
#include "llama.hpp"

#include <qamw/io/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>

namespace qamw::eval {

/// What `qamw stats` recorded (the statistics themselves are in the file).
struct act_stats_summary {
    int64_t n_ctx = 0, windows = 0;
    std::size_t layers = 0;   ///< linear weights with per-channel statistics
    std::size_t moments = 0;  ///< groups with second moments
};

/// Accumulates the statistics while a model runs. Build the model with `observe_inputs(factory, observer())`, then
/// call `collect`.
class act_stats_collector {
public:
    /// second_moments: also gather E[x xᵀ] per group of weights sharing an input (see the file comment).
    explicit act_stats_collector(bool second_moments = false) : second_moments_(second_moments) {}

    /// Passes over every window that `collect` makes: the embedding, each decoder layer, the head.
    static int64_t passes(const llama_config& c) { return c.num_hidden_layers + 2; }

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

    /// Runs `model` (built with this collector's observer) layer by layer over the calibration windows: min(⌊N /
    /// n_ctx⌋, max_tokens / n_ctx) windows, first token of each set to BOS, and writes the statistics to `out_path`
    /// (atomically; the layout of tools/eval/act_stats_file.hpp). `progress(done, total)` after each round of windows
    /// of each pass (total = windows × passes()).
    act_stats_summary collect(const llama_model& model, const std::vector<int32_t>& tokens, int64_t n_ctx,
                              int64_t max_tokens, int threads, const std::string& out_path,
                              const std::function<void(int64_t, int64_t)>& progress = {}) {
        const llama_config& cfg = model.config();
        const int64_t V = cfg.vocab_size;
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
        moments_.clear();  // what an earlier call that failed midway left
        moment_order_.clear();
        const std::vector<std::vector<input_entry>> stages = stage_inputs(cfg, model.lm_head_name(), W * n_ctx);
        act_stats_layout layout;
        layout.n_ctx = n_ctx;
        layout.windows = W;
        for (const auto& stage : stages)
            for (const input_entry& e : stage) {
                layout.channels.push_back(e.linear);
                if (second_moments_ && e.first_of_group) layout.moments.push_back(e.group);
            }
        act_stats_writer out(out_path, layout);
        const tools::scratch_file hidden(out_path + ".tmp-hidden-");
        const std::size_t state_floats = std::size_t(n_ctx * cfg.hidden_size), state_bytes = state_floats * 4;
        std::vector<llama_workspace> ws(static_cast<std::size_t>(T));
        const int64_t total_steps = W * passes(cfg);
        int64_t done = 0;
        auto report = [&](int64_t in_round) {
            done += in_round;
            if (progress) progress(done, total_steps);
        };

        // Pass 0: the embeddings (which also size each thread's workspace for n_ctx positions).
        rounds(W, T, [&](int64_t w, std::size_t t) {
            std::vector<int32_t> tok(tokens.begin() + w * n_ctx, tokens.begin() + (w + 1) * n_ctx);
            tok[0] = cfg.bos_token_id;
            model.embed(tok.data(), n_ctx, ws[t]);
            hidden.write_at(uint64_t(w) * state_bytes, ws[t].x.data(), state_bytes);
        }, report);

        // Passes 1 … L: the decoder layers; pass L+1: the head, where the final norm's output is shown to the
        // observer as the output projection's input (the product itself, whose logits nobody reads, is skipped).
        // Each pass ends with its statistics written and freed.
        const input_observer record = observer();
        for (std::size_t s = 0; s < stages.size(); ++s) {
            const bool head = s + 1 == stages.size();
            std::vector<window_sums> slots(static_cast<std::size_t>(T));
            window_sums total;
            rounds(W, T, [&](int64_t w, std::size_t t) {
                hidden.read_at(uint64_t(w) * state_bytes, ws[t].x.data(), state_bytes);
                slots[t].clear();
                current_ = &slots[t];
                try {
                    if (head) {
                        model.final_norm(0, n_ctx, ws[t]);
                        record(model.lm_head_name(), ws[t].logits_in.data(), n_ctx, cfg.hidden_size);
                    } else {
                        model.run_layer(s, 0, ws[t]);
                    }
                } catch (...) {
                    current_ = nullptr;
                    throw;
                }
                current_ = nullptr;
                if (!head) hidden.write_at(uint64_t(w) * state_bytes, ws[t].x.data(), state_bytes);
            }, [&](int64_t in_round) {
                for (int64_t t = 0; t < in_round; ++t) total.add(slots[std::size_t(t)]);
                if (second_moments_) add_gram(slots, std::size_t(in_round), T);
                report(in_round);
            });
            write_stage(stages[s], total, out);
        }
        grams_.clear();
        out.commit();
        act_stats_summary r;
        r.n_ctx = n_ctx;
        r.windows = W;
        r.layers = layout.channels.size();
        r.moments = layout.moments.size();
        return r;
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

    /// One linear input of a pass, as the file declares it.
    struct input_entry {
        act_stats_layout::entry linear;  ///< weight name, input width, rows
        act_stats_layout::entry group;   ///< its group (awq_group_key), same width and rows
        bool first_of_group = false;     ///< the group's first member in the pass (the one whose input is kept)
    };

    /// The linear inputs of each pass after the embedding (decoder layers 0 … L−1, then the head), in the order the
    /// forward pass shows them to the observer (llama_model::run_layer, head), every one of `rows` rows.
    static std::vector<std::vector<input_entry>> stage_inputs(const llama_config& c, const std::string& lm_head,
                                                              int64_t rows) {
        std::vector<std::vector<std::pair<std::string, int64_t>>> names;
        for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
            names.emplace_back();
            for (const auto& x : llama_model::layer_linears(c, l)) names.back().emplace_back(x.name, x.in);
        }
        names.push_back({{lm_head, c.hidden_size}});
        std::vector<std::vector<input_entry>> out;
        for (const auto& stage : names) {
            std::vector<input_entry> entries;
            for (const auto& [name, in] : stage) {
                input_entry e;
                e.linear = {name, in, rows};
                e.group = {tools::awq_group_key(name), in, rows};
                e.first_of_group = std::none_of(entries.begin(), entries.end(),
                                                [&](const input_entry& o) { return o.group.name == e.group.name; });
                entries.push_back(e);
            }
            out.push_back(std::move(entries));
        }
        return out;
    }

    /// Checks one pass's statistics against what the file declares, writes them and frees the accumulators.
    void write_stage(const std::vector<input_entry>& expected, const window_sums& total, act_stats_writer& out) {
        auto mismatch = [](const std::string& what, const act_stats_layout::entry& e) {
            return error(errc::invalid_argument,
                         "qamw stats: the model's " + what + " do not follow the Llama layout the statistics file "
                         "declares (expected " + e.name + ": " + std::to_string(e.in) + " inputs, " +
                         std::to_string(e.tokens) + " rows)");
        };
        if (total.order.size() != expected.size()) throw mismatch("linear inputs", expected.front().linear);
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const act_stats_layout::entry& e = expected[i].linear;
            const sums& s = total.layers.at(total.order[i]);
            if (total.order[i] != e.name || int64_t(s.abs.size()) != e.in || s.rows != e.tokens)
                throw mismatch("linear inputs", e);
            std::vector<float> mean_abs(s.abs.size()), mean_sq(s.sq.size());
            for (std::size_t j = 0; j < s.abs.size(); ++j) {
                mean_abs[j] = float(s.abs[j] / double(s.rows));
                mean_sq[j] = float(s.sq[j] / double(s.rows));
            }
            out.write_channels(e.name, mean_abs, mean_sq);
        }
        if (!second_moments_) return;
        std::vector<const act_stats_layout::entry*> groups;
        for (const input_entry& e : expected)
            if (e.first_of_group) groups.push_back(&e.group);
        if (moment_order_.size() != groups.size()) throw mismatch("input groups", *groups.front());
        std::vector<float> part;
        for (std::size_t g = 0; g < groups.size(); ++g) {
            const act_stats_layout::entry& e = *groups[g];
            moment_sums& s = moments_.at(moment_order_[g]);
            if (moment_order_[g] != e.name || s.in != e.in || s.rows != e.tokens) throw mismatch("input groups", e);
            // Row by row into pieces of about 1 MiB: no f32 copy of the whole matrix.
            const int64_t rows_per_part = std::max<int64_t>(1, (int64_t(1) << 18) / s.in);
            for (int64_t i0 = 0; i0 < s.in; i0 += rows_per_part) {
                const int64_t i1 = std::min(s.in, i0 + rows_per_part);
                part.resize(std::size_t((i1 - i0) * s.in));
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = 0; j < s.in; ++j)
                        part[std::size_t((i - i0) * s.in + j)] =
                            float(s.lower[j <= i ? packed(i, j) : packed(j, i)] / double(s.rows));
                out.write_moment_part(e.name, part.data(), part.size());
            }
            s.lower = {};
        }
        moments_.clear();
        moment_order_.clear();
    }

    /// Runs window(w, t) for every window w < W in rounds of T (t: the window's thread slot in its round), then
    /// after_round(windows in the round) on the calling thread.
    template <class Window, class After>
    static void rounds(int64_t W, int T, Window&& window, After&& after_round) {
        for (int64_t r0 = 0; r0 < W; r0 += T) {
            const int64_t in_round = std::min<int64_t>(T, W - r0);
            parallel_for(std::size_t(in_round), T, [&](std::size_t b, std::size_t e) {
                for (std::size_t t = b; t < e; ++t) window(r0 + int64_t(t), t);
            });
            after_round(in_round);
        }
    }

    /// Adds the Grams of slots [0, n) to the accumulators, group by group: the windows' Grams in parallel (one per
    /// thread), then added in window order, the rows of the triangle split between the threads by area (every entry
    /// still receives its windows in window order).
    void add_gram(const std::vector<window_sums>& slots, std::size_t n, int threads) {
        using rmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        for (const std::string& key : slots[0].input_order)
            if (!moments_.count(key)) {
                const int64_t in = slots[0].inputs.at(key).in;
                moment_sums& m = moments_[key];
                m.in = in;
                m.lower.assign(packed(in, 0), 0.0);
                moment_order_.push_back(key);
            }
        grams_.resize(n);
        std::vector<const group_input*> xs;
        for (const std::string& key : moment_order_) {
            moment_sums& m = moments_.at(key);
            xs.clear();
            for (std::size_t t = 0; t < n; ++t) {
                auto it = slots[t].inputs.find(key);
                if (it == slots[t].inputs.end() || it->second.in == 0) continue;
                if (it->second.in != m.in)
                    throw error(errc::invalid_argument,
                                "second moments of " + key + ": members of the group have different input widths");
                xs.push_back(&it->second);
            }
            parallel_for(xs.size(), threads, [&](std::size_t b, std::size_t e) {
                for (std::size_t t = b; t < e; ++t) {
                    Eigen::Map<const rmat> X(xs[t]->x.data(), xs[t]->rows, xs[t]->in);
                    grams_[t].setZero(m.in, m.in);
                    grams_[t].selfadjointView<Eigen::Lower>().rankUpdate(X.transpose());
                }
            });
            const std::size_t parts = std::size_t(resolve_threads(threads));
            auto row_at = [&](std::size_t p) {  // rows [0, row_at(p)) hold about p/parts of the triangle
                if (p >= parts) return m.in;
                return std::min(m.in, int64_t(std::ceil(double(m.in) * std::sqrt(double(p) / double(parts)))));
            };
            parallel_for(parts, threads, [&](std::size_t p0, std::size_t p1) {
                for (int64_t i = row_at(p0); i < row_at(p1); ++i)
                    for (std::size_t t = 0; t < xs.size(); ++t)
                        for (int64_t j = 0; j <= i; ++j) m.lower[packed(i, j)] += double(grams_[t](i, j));
            });
            for (const group_input* x : xs) m.rows += x->rows;
        }
    }

    bool second_moments_ = false;
    std::unordered_map<std::string, moment_sums> moments_;  ///< the current pass's groups
    std::vector<std::string> moment_order_;
    std::vector<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>> grams_;  ///< one window's Gram per thread
    static inline thread_local window_sums* current_ = nullptr;
};

}  // namespace qamw::eval
