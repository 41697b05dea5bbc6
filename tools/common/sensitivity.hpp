// tools/common/sensitivity.hpp — what each tensor's quantization error costs at the model's output, measured on
// calibration tokens, and its cache file (docs/ALLOCATION.md).
//
// Model. The output loss of tensor t coded at k is predicted as
//     ΔKLD_t(k) = σ_t(k) · D_t(k),
// D_t(k) = its measured distortion at k: the tensor is encoded at every k = 4 … 12 (with its activation-aware scales,
// when statistics are given) and
//     D_t(k) = Σ_ij m_j (W_ij − Ŵ_ij)² / Σ_ij m_j W_ij²,   m_j = E[x_j²] of the weight's input (all 1 without statistics:
//                                                            the relative MSE),
// and σ_t(k) = its sensitivity, measured at each reference k (6 and 8; `qamw quantize --feedback` asks for 8 alone,
// docs/ALLOCATION.md): the tensor alone is replaced by its reconstruction at that k, every other weight stays f32, and
// the mean KL divergence KLD_t(k_ref) against the f32 model is measured on the first `windows` calibration windows
// (eval::evaluate_perplexity's estimator and protocol: n_ctx tokens, the second half scored); σ_t(k_ref) =
// KLD_t(k_ref) / D_t(k_ref). For small errors the KL divergence is quadratic in the weight error (σ constant); further
// from f32 it grows faster, so between and beyond the references σ_t(k) follows the power law through the two nearest,
// KLD_t ∝ D_t^(1+β) (sensitivity_table::sigma; one reference: σ constant). Summing
// over tensors assumes the errors of different tensors add (measured in docs/ALLOCATION.md). Activation-aware scales:
// α of each group is searched once at the last reference k (plan_awq) and the same scales are used at every k here;
// after the allocation each group's α is searched again with its members at their allocated k (allocation_plan.hpp).
//
// The forward passes. One f32 pass over the windows keeps each window's hidden state at the input of every layer
// (windows × n_ctx × hidden × 4 bytes × layers: 64 MiB for house-a's 8 × 512 × 512 × 8); the pass that measures a
// tensor of layer l starts there from the kept state (llama_model::forward_from: the same operations as the whole
// forward, so the same logits to the bit), skipping layers 0 … l−1. Tensors outside the decoder layers run the whole
// forward.
//
// Cost: 9 encode + decode passes over the quantized weights, 1 + R·T forward passes over the calibration windows (R
// reference k's, T quantized tensors; about half of them start at a later layer), and one AWQ search when statistics
// are given.
//
// The table and its cache file: tools/common/sensitivity_file.hpp; a cached table is reused only when every input
// matches (check_sensitivity).
#pragma once

#include "baselines/polar.hpp"
#include "common/allocation.hpp"
#include "common/awq.hpp"
#include "common/quantize_model.hpp"
#include "common/sensitivity_file.hpp"
#include "eval/perplexity.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qamw::tools {

/// True bits of a tensor coded at k (8 · quantized_tensor::stored_bytes(): codes, norms, exponent, scales).
inline std::uint64_t stored_bits(std::int64_t rows, std::int64_t cols, int k, int block, bool scaled) {
    return static_cast<std::uint64_t>(baselines::pair_codec_bits(rows, cols, k, scaled, block));  // exact below 2^53
}

/// The knapsack of tools/common/allocation.hpp for a measured table.
inline std::vector<alloc_item> allocation_items(const sensitivity_table& s) {
    std::vector<alloc_item> items;
    for (const auto& t : s.tensors) {
        alloc_item it;
        it.name = t.name;
        it.weights = t.rows * t.cols;
        for (int k = min_bits; k <= max_bits; ++k) {
            it.bits[std::size_t(k - min_bits)] = stored_bits(t.rows, t.cols, k, s.block, t.scaled);
            it.loss[std::size_t(k - min_bits)] = s.predicted(t, k);
        }
        items.push_back(std::move(it));
    }
    return items;
}

/// A linear layer whose product can be replaced for a while by another one (the tensor under measurement).
class injectable_linear : public eval::linear {
public:
    explicit injectable_linear(std::unique_ptr<eval::linear> original) : original_(std::move(original)) {}
    std::int64_t in_features() const override { return original_->in_features(); }
    std::int64_t out_features() const override { return original_->out_features(); }
    void forward(const float* x, std::int64_t m, float* y) const override { active().forward(x, m, y); }
    std::size_t weight_bytes() const override { return original_->weight_bytes(); }
    void row(std::int64_t i, float* out) const override { active().row(i, out); }
    /// Replaces the product until the next call (nullptr: the original again). Not while a forward pass runs.
    void inject(std::unique_ptr<eval::linear> replacement) { replacement_ = std::move(replacement); }

private:
    const eval::linear& active() const { return replacement_ ? *replacement_ : *original_; }
    std::unique_ptr<eval::linear> original_, replacement_;
};

/// The f32 model of `src` with every linear an injectable_linear; `slots` lists them by tensor name.
inline eval::llama_model injectable_model(const eval::llama_config& cfg, const eval::weight_source& src,
                                          std::map<std::string, injectable_linear*>& slots) {
    const eval::linear_factory dense = eval::dense_factory(src);
    return eval::llama_model(cfg, src, [&](const std::string& name) -> std::unique_ptr<eval::linear> {
        auto l = std::make_unique<injectable_linear>(dense(name));
        slots[name] = l.get();
        return l;
    });
}

struct sensitivity_options {
    params codec;                 ///< block and seed of the codec (its bits are not used)
    std::vector<int> reference_bits{6, 8};  ///< the k's σ is measured at, increasing; AWQ's α is searched at the last
    selection select;
    int threads = 0;
    std::int64_t n_ctx = 512;
    std::int64_t windows = 8;     ///< calibration windows per forward-pass measurement
    const activation_stats* stats = nullptr;  ///< activation-aware scales and the E[x²] weighting; nullptr: none
    std::string stats_hash;       ///< file_hash of the statistics file (with stats)
    /// Called after each tensor (done, total, name).
    std::function<void(std::size_t, std::size_t, const std::string&)> progress;
};

/// The inputs of a measurement with `opt` on calibration tokens whose file hash is `calib_hash` (no tensors yet): what
/// a cached table must match.
inline sensitivity_table sensitivity_inputs(const sensitivity_options& opt, const std::string& calib_hash) {
    sensitivity_table s;
    s.reference_bits = opt.reference_bits;
    s.n_ctx = opt.n_ctx;
    s.windows = opt.windows;
    s.block = opt.codec.block;
    s.seed = opt.codec.seed;
    s.calib_hash = calib_hash;
    s.stats_hash = opt.stats ? opt.stats_hash : std::string();
    return s;
}

/// The names of the tensors quantize_checkpoint quantizes, in checkpoint order.
inline std::vector<std::string> quantized_names(const io::checkpoint& ck, const selection& select) {
    std::vector<std::string> names;
    for (const std::string& n : ck.names())
        if (is_quantized_tensor(*ck.find(n), n, select)) names.push_back(n);
    return names;
}

/// The decoder layer a tensor named "model.layers.<l>.…" belongs to; -1 for any other name.
inline std::int64_t layer_of(const std::string& name) {
    const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) return -1;
    std::int64_t l = 0;
    std::size_t i = prefix.size();
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && l < (std::int64_t(1) << 40); ++i) l = 10 * l + (name[i] - '0');
    return i > prefix.size() && i < name.size() && name[i] == '.' ? l : -1;
}

/// Forward passes over the calibration windows that keep each window's hidden state at the input of every layer of the
/// f32 model (the first pass), so that a pass whose changed tensor lies in layer l starts there (the file comment).
class layer_state_cache {
public:
    layer_state_cache(const eval::llama_model& model, const std::vector<std::int32_t>& tokens, std::int64_t n_ctx,
                      std::int64_t windows)
        : model_(model), layers_(std::size_t(model.config().num_hidden_layers)), d_(model.config().hidden_size),
          n_(n_ctx) {
        const std::int64_t w = eval::window_count(tokens.size(), std::max<std::int64_t>(n_ctx, 1), windows);
        states_.resize(std::size_t(w) * layers_ * std::size_t(n_ * d_));
    }
    /// The logits of the whole forward pass, keeping every layer's input (the f32 base run).
    eval::window_logits keep() {
        return [this](std::int64_t w, const std::int32_t* tok, std::int64_t n, eval::llama_workspace& ws, float* logits) {
            model_.embed(tok, n, ws);
            model_.forward_from(0, n / 2 - 1, n - 1, ws, logits, [&](std::size_t l, const eval::row_matrix& x) {
                std::copy(x.data(), x.data() + n * d_, state(w, l));
            });
        };
    }
    /// The logits of a pass whose layers below `layer` are those of the kept run (the whole forward when `layer` is no
    /// decoder layer, e.g. -1).
    eval::window_logits from(std::int64_t layer) const {
        return [this, layer](std::int64_t w, const std::int32_t* tok, std::int64_t n, eval::llama_workspace& ws,
                             float* logits) {
            if (layer < 0 || std::size_t(layer) >= layers_) return model_.forward(tok, n, n / 2 - 1, n - 1, ws, logits);
            model_.embed(tok, n, ws);  // sizes ws for n positions; the kept state replaces the embeddings
            const float* x = state(w, std::size_t(layer));
            std::copy(x, x + n * d_, ws.x.data());
            model_.forward_from(std::size_t(layer), n / 2 - 1, n - 1, ws, logits);
        };
    }

private:
    std::size_t offset(std::int64_t w, std::size_t l) const { return (std::size_t(w) * layers_ + l) * std::size_t(n_ * d_); }
    float* state(std::int64_t w, std::size_t l) { return states_.data() + offset(w, l); }
    const float* state(std::int64_t w, std::size_t l) const { return states_.data() + offset(w, l); }
    const eval::llama_model& model_;
    std::size_t layers_;
    std::int64_t d_, n_;
    std::vector<float> states_;  ///< [window][layer][n_ctx × hidden]
};

/// Measures the table of the file comment for the Llama checkpoint at `model_path` on calibration `tokens` (the
/// token file's hash is `calib_hash`). Throws qamw::error when a selected tensor is not a linear of the forward pass.
inline sensitivity_table measure_sensitivity(const std::string& model_path, const std::vector<std::int32_t>& tokens,
                                             const std::string& calib_hash, const sensitivity_options& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    eval::llama_checkpoint m = eval::llama_checkpoint::open(model_path);
    const io::checkpoint& ck = m.ckpt;
    sensitivity_table out = sensitivity_inputs(opt, calib_hash);
    const std::vector<std::string> names = quantized_names(ck, opt.select);
    if (names.empty()) throw error(errc::invalid_argument, model_path + ": no tensor is selected for quantization");

    awq_plan awq;
    if (opt.stats) {
        quantize_options q;
        q.codec = opt.codec;
        q.codec.bits = opt.reference_bits.back();
        q.select = opt.select;
        q.threads = opt.threads;
        awq = plan_awq(ck, q, *opt.stats);
        for (const auto& g : awq.groups) out.alphas.emplace_back(g.key, g.alpha);
    }
    auto lap = [t = std::chrono::steady_clock::now()]() mutable {
        const auto now = std::chrono::steady_clock::now();
        const double s = std::chrono::duration<double>(now - t).count();
        t = now;
        return s;
    };
    out.seconds_awq = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    eval::checkpoint_source src(ck);
    std::map<std::string, injectable_linear*> slots;
    const eval::llama_model model = injectable_model(m.config, src, slots);
    for (const auto& n : names)
        if (!slots.count(n))
            throw error(errc::invalid_argument, "tensor '" + n + "' is not a linear layer of the model's forward pass, so " +
                                                    "its sensitivity cannot be measured (exclude it with --exclude)");

    eval::eval_options eo;
    eo.n_ctx = opt.n_ctx;
    eo.max_windows = opt.windows;
    eo.threads = opt.threads;
    eo.save_base = true;
    lap();
    layer_state_cache states(model, tokens, opt.n_ctx, opt.windows);
    const eval::kld_base base = eval::evaluate_perplexity(model, tokens, eo, states.keep()).base;
    out.seconds_forward += lap();
    eo.save_base = false;
    eo.compare = &base;

    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        tensor_sensitivity t;
        t.name = name;
        t.rows = ck.find(name)->shape[0];
        t.cols = ck.find(name)->shape[1];
        const std::vector<float> w = io::to_f32(ck.view(name));
        auto sc = awq.scales.find(name);
        const float* s = sc == awq.scales.end() ? nullptr : sc->second.data();
        t.scaled = s != nullptr;
        std::vector<float> weight(std::size_t(t.cols), 1.0f);
        if (opt.stats) {
            auto st = opt.stats->by_weight.find(name);
            if (st != opt.stats->by_weight.end()) weight = st->second.second;
        }
        double signal = 0;
        for (std::size_t r = 0; r < std::size_t(t.rows); ++r)
            for (std::size_t j = 0; j < std::size_t(t.cols); ++j) {
                const double v = w[r * std::size_t(t.cols) + j];
                signal += double(weight[j]) * v * v;
            }
        std::vector<std::vector<float>> reference(opt.reference_bits.size());
        for (int k = min_bits; k <= max_bits; ++k) {
            params p = opt.codec;
            p.bits = k;
            quantized_tensor q;
            try {
                q = encode(codebook_for(k), w.data(), t.rows, t.cols, p, s, on_threads{opt.threads});
            } catch (const error& e) {
                throw error(e.code(), "tensor '" + name + "': " + e.what());
            }
            t.distortion[std::size_t(k - min_bits)] = signal > 0 ? awq_matrix_error(q, w.data(), weight, opt.threads) / signal : 0;
            for (std::size_t r = 0; r < reference.size(); ++r)
                if (k == opt.reference_bits[r]) reference[r] = decode(q, on_threads{opt.threads});
        }
        out.seconds_distortion += lap();
        const eval::window_logits pass = states.from(layer_of(name));
        for (std::size_t r = 0; r < reference.size(); ++r) {
            slots.at(name)->inject(std::make_unique<eval::dense_linear>(std::move(reference[r]), t.rows, t.cols));
            t.kld.push_back(eval::evaluate_perplexity(model, tokens, eo, pass).kld->mean);
            const double d_ref = t.d(opt.reference_bits[r]);
            t.sensitivity.push_back(d_ref > 0 ? std::max(0.0, t.kld.back()) / d_ref : 0);
        }
        slots.at(name)->inject(nullptr);
        out.seconds_forward += lap();
        out.tensors.push_back(std::move(t));
        if (opt.progress) opt.progress(i + 1, names.size(), name);
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

/// Refuses a cached table that was not measured for this run: another model or tensor selection, other calibration
/// tokens or windows, another reference k, block, seed, or other statistics. `path` names the file in the errors.
inline void check_sensitivity(const sensitivity_table& s, const std::string& path, const io::checkpoint& ck,
                              const selection& select, const sensitivity_table& expected) {
    auto bad = [&](const std::string& m) {
        return error(errc::invalid_argument, "--sensitivity " + path + ": " + m + "; measure it again (remove the file)");
    };
    if (s.calib_hash != expected.calib_hash) throw bad("measured on other calibration tokens (token file hash differs)");
    if (s.stats_hash != expected.stats_hash)
        throw bad(s.stats_hash.empty() ? "measured without --act-stats" : expected.stats_hash.empty()
                                                                               ? "measured with --act-stats statistics"
                                                                               : "measured with other --act-stats statistics");
    if (s.n_ctx != expected.n_ctx || s.windows != expected.windows)
        throw bad("measured on " + std::to_string(s.windows) + " windows of " + std::to_string(s.n_ctx) + " tokens, this run asks for " +
                  std::to_string(expected.windows) + " of " + std::to_string(expected.n_ctx));
    if (s.reference_bits != expected.reference_bits || s.block != expected.block || s.seed != expected.seed)
        throw bad("measured with other reference k's, block or seed");
    const std::vector<std::string> names = quantized_names(ck, select);
    if (names.size() != s.tensors.size())
        throw bad("it holds " + std::to_string(s.tensors.size()) + " tensors, this model quantizes " + std::to_string(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) {
        const tensor_sensitivity& t = s.tensors[i];
        const io::tensor_info* info = ck.find(names[i]);
        if (t.name != names[i] || t.rows != info->shape[0] || t.cols != info->shape[1])
            throw bad("tensor " + std::to_string(i) + " is '" + t.name + "' (" + std::to_string(t.rows) + "x" +
                      std::to_string(t.cols) + "), this model's is '" + names[i] + "' (" + std::to_string(info->shape[0]) +
                      "x" + std::to_string(info->shape[1]) + ")");
    }
}

}  // namespace qamw::tools
