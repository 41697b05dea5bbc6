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
// File layout: a safetensors file (qamw/io/safetensors.hpp), for every linear weight "<w>" (the checkpoint tensor
// name, e.g. "model.layers.0.self_attn.q_proj.weight"):
//     tensor "<w>.mean_abs"   F32 [in_features]
//     tensor "<w>.mean_sq"    F32 [in_features]
//     metadata "<w>.tokens"   decimal count T of recorded rows (> 0)
// plus metadata "format" = "qamw-act-stats", "version" = "1", and informational "n_ctx" and "windows". Tensors are
// written in model order (layer by layer; q, k, v, o, gate, up, down; lm_head last).
// read_act_stats checks the format and version, that every tensor is a finite 1-D F32 pair with matching lengths,
// mean_abs ≥ 0, mean_sq ≥ 0 and mean_abs² ≤ mean_sq·(1 + 1e-5) (Cauchy–Schwarz), that every weight has its token count,
// and that nothing else is in the file; errors name the file and the tensor.
#pragma once

#include "llama.hpp"

#include <qamw/io/safetensors.hpp>
#include <qamw/parallel.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>

namespace qamw::eval {

/// Statistics of one linear layer's input.
struct channel_stats {
    std::vector<float> mean_abs, mean_sq;  ///< [in_features]
    int64_t tokens = 0;                     ///< rows recorded
};

/// All layers of a model, in model order.
struct act_stats {
    std::vector<std::pair<std::string, channel_stats>> layers;  ///< (weight name, statistics)
    int64_t n_ctx = 0, windows = 0;                              ///< informational

    const channel_stats* find(const std::string& weight) const {
        for (const auto& l : layers)
            if (l.first == weight) return &l.second;
        return nullptr;
    }
};

inline constexpr const char* act_stats_format = "qamw-act-stats";

/// Writes `s` atomically in the layout of the file comment.
inline void write_act_stats(const std::string& path, const act_stats& s) {
    io::safetensors_writer w(path);
    w.set_metadata("format", act_stats_format);
    w.set_metadata("version", "1");
    w.set_metadata("n_ctx", std::to_string(s.n_ctx));
    w.set_metadata("windows", std::to_string(s.windows));
    for (const auto& [name, c] : s.layers) {
        if (c.mean_abs.empty() || c.mean_abs.size() != c.mean_sq.size() || c.tokens <= 0)
            throw error(errc::invalid_argument, "act stats of " + name + ": empty or inconsistent");
        const int64_t in = int64_t(c.mean_abs.size());
        w.add(name + ".mean_abs", io::dtype::f32, {in});
        w.add(name + ".mean_sq", io::dtype::f32, {in});
        w.set_metadata(name + ".tokens", std::to_string(c.tokens));
    }
    w.begin();
    auto le_bytes = [](const std::vector<float>& v) {
        std::vector<uint8_t> b(v.size() * 4);
        for (std::size_t i = 0; i < v.size(); ++i) {
            uint32_t u;
            std::memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; ++k) b[4 * i + std::size_t(k)] = uint8_t(u >> (8 * k));
        }
        return b;
    };
    for (const auto& [name, c] : s.layers) {
        auto a = le_bytes(c.mean_abs), q = le_bytes(c.mean_sq);
        w.write(name + ".mean_abs", a.data(), a.size());
        w.write(name + ".mean_sq", q.data(), q.size());
    }
    w.commit();
}

/// Reads and validates a statistics file (see the file comment for every check).
inline act_stats read_act_stats(const std::string& path) {
    io::safetensors_file f = io::safetensors_file::open(path);
    auto bad = [&](const std::string& msg) { return error(errc::format, path + ": " + msg); };
    const std::string* format = f.find_metadata("format");
    if (!format || *format != act_stats_format)
        throw bad("not an activation statistics file (metadata format must be \"qamw-act-stats\")");
    const std::string* version = f.find_metadata("version");
    if (!version || *version != "1")
        throw error(errc::unsupported, path + ": activation statistics version " + (version ? *version : "(none)") +
                                           " (this build reads version 1)");
    auto parse_count = [&](const std::string& key, bool required) -> int64_t {
        const std::string* v = f.find_metadata(key);
        if (!v) {
            if (required) throw bad("missing metadata \"" + key + "\"");
            return 0;
        }
        if (v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string::npos)
            throw bad("metadata \"" + key + "\" is not a decimal count: \"" + *v + "\"");
        return std::stoll(*v);
    };
    act_stats s;
    s.n_ctx = parse_count("n_ctx", false);
    s.windows = parse_count("windows", false);
    std::vector<const io::tensor_info*> order;  // by data offset = write order
    for (const io::tensor_info& t : f.tensors()) order.push_back(&t);
    const std::string abs_suffix = ".mean_abs", sq_suffix = ".mean_sq";
    auto ends_with = [](const std::string& s, const std::string& suf) {
        return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
    };
    auto load = [&](const io::tensor_info& t) {
        if (t.type != io::dtype::f32 || t.shape.size() != 1 || t.shape[0] <= 0)
            throw bad("tensor " + t.name + " must be F32 with one non-empty dimension");
        std::vector<float> v = io::to_f32(f.view(t));
        for (float x : v)
            if (!std::isfinite(x) || x < 0) throw bad("tensor " + t.name + " holds a negative, NaN or infinite value");
        return v;
    };
    std::size_t pairs = 0;
    for (const io::tensor_info* t : order) {
        if (ends_with(t->name, sq_suffix)) continue;  // read with its mean_abs partner
        if (!ends_with(t->name, abs_suffix))
            throw bad("unexpected tensor " + t->name + " (only <weight>.mean_abs and <weight>.mean_sq belong here)");
        const std::string weight = t->name.substr(0, t->name.size() - abs_suffix.size());
        const io::tensor_info* sq = f.find(weight + sq_suffix);
        if (!sq) throw bad("tensor " + t->name + " has no " + weight + sq_suffix);
        channel_stats c;
        c.mean_abs = load(*t);
        c.mean_sq = load(*sq);
        if (c.mean_abs.size() != c.mean_sq.size())
            throw bad(weight + ": mean_abs and mean_sq have different lengths");
        for (std::size_t j = 0; j < c.mean_abs.size(); ++j)
            if (double(c.mean_abs[j]) * c.mean_abs[j] > double(c.mean_sq[j]) * (1 + 1e-5) + 1e-30)
                throw bad(weight + ": channel " + std::to_string(j) + " has mean_abs² > mean_sq (impossible)");
        c.tokens = parse_count(weight + ".tokens", true);
        if (c.tokens <= 0) throw bad("metadata \"" + weight + ".tokens\" must be > 0");
        s.layers.emplace_back(weight, std::move(c));
        ++pairs;
    }
    if (2 * pairs != f.tensors().size())
        throw bad("a .mean_sq tensor has no .mean_abs partner");
    if (s.layers.empty()) throw bad("no statistics in the file");
    return s;
}

/// Accumulates the statistics while a model runs. Build the model with `observe_inputs(factory, observer())`, then
/// call `collect`.
class act_stats_collector {
public:
    /// The observer to give observe_inputs. It records into the window bound to the calling thread (nothing when the
    /// model runs outside `collect`).
    input_observer observer() const {
        return [](const std::string& name, const float* x, int64_t m, int64_t in) {
            window_sums* w = current_;
            if (!w) return;
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
        return out;
    }

private:
    struct sums {
        std::vector<double> abs, sq;
        int64_t rows = 0;
    };
    struct window_sums {
        std::unordered_map<std::string, sums> layers;
        std::vector<std::string> order;  ///< first-seen order = model order
        void clear() {
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
    static inline thread_local window_sums* current_ = nullptr;
};

}  // namespace qamw::eval
