// tools/eval/llama.hpp — the f32 reference forward pass of a Hugging Face LlamaForCausalLM checkpoint, in Eigen.
//
// Model (per layer l, x: n × hidden, one row per position 0 … n−1 of one prompt; hd = head_dim):
//     h = RMSNorm(x) ⊙ w_in            RMSNorm(x) = x / sqrt(mean(x²) + eps), per row
//     q = h·Wqᵀ, k = h·Wkᵀ, v = h·Wvᵀ   then rotate-half RoPE on each head of q and k: for i < hd/2,
//                                        angle = pos · θ^(−2i/hd), (a, b) = (x_i, x_{i+hd/2}) → (a·cos − b·sin, b·cos + a·sin)
//     attn_h = softmax(q_h·k_gᵀ / sqrt(hd) + causal mask) · v_g,   g = h / (heads / kv_heads)   (grouped-query)
//     x += concat_h(attn_h)·Woᵀ
//     h = RMSNorm(x) ⊙ w_post;  x += (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ,   silu(z) = z / (1 + e^(−z))
// then logits = (RMSNorm(x) ⊙ w_final)·Wlmᵀ, with Wlm = embed_tokens when the embeddings are tied or lm_head.weight is
// absent. Everything is float32 (bf16/f16 tensors are widened on load), softmax included.
//
// The pluggable part: every matrix product with a weight (q, k, v, o, gate, up, down and lm_head) goes through the
// `linear` interface, built by a `linear_factory` from the checkpoint tensor name, and so does the token embedding
// (whose rows are read with `linear::row`; a tied lm_head is the same object). The default factory multiplies with
// dense f32 weights; a quantized codec supplies its own factory (fused kernels, rows decoded on demand) and nothing
// else changes.
// `observe_inputs` wraps a factory so that a callback sees every linear's input (used by `qamw stats`).
//
// Threads: the model is immutable after construction; `forward` may run concurrently on several threads as long as
// each uses its own `llama_workspace` (the linears' forward must be const and thread-safe). Eigen runs single-threaded
// here (no OpenMP): parallelism is over prompts, by the caller.
#pragma once

#include <qamw/error.hpp>
#include <qamw/detail/json.hpp>
#include <qamw/io/safetensors.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace qamw::eval {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// ---- configuration -------------------------------------------------------------------------------------------------

struct llama_config {
    int64_t hidden_size = 0;
    int64_t intermediate_size = 0;
    int64_t num_hidden_layers = 0;
    int64_t num_attention_heads = 0;
    int64_t num_key_value_heads = 0;  ///< defaults to num_attention_heads
    int64_t head_dim = 0;             ///< defaults to hidden_size / num_attention_heads
    int64_t vocab_size = 0;
    int64_t max_position_embeddings = 0;  ///< 0 when the config does not say (then no limit is enforced)
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    bool tie_word_embeddings = false;
    int32_t bos_token_id = 1;

    int64_t q_features() const { return num_attention_heads * head_dim; }
    int64_t kv_features() const { return num_key_value_heads * head_dim; }

    /// Throws qamw::error naming the field and the rule when the configuration cannot describe a valid model.
    void validate() const {
        auto positive = [](const char* name, int64_t v) {
            if (v <= 0) throw error(errc::invalid_argument, std::string("llama config: ") + name + " must be > 0, got " +
                                                                std::to_string(v));
        };
        positive("hidden_size", hidden_size);
        positive("intermediate_size", intermediate_size);
        positive("num_hidden_layers", num_hidden_layers);
        positive("num_attention_heads", num_attention_heads);
        positive("num_key_value_heads", num_key_value_heads);
        positive("head_dim", head_dim);
        positive("vocab_size", vocab_size);
        if (num_attention_heads % num_key_value_heads != 0)
            throw error(errc::invalid_argument, "llama config: num_attention_heads (" +
                                                    std::to_string(num_attention_heads) +
                                                    ") must be a multiple of num_key_value_heads (" +
                                                    std::to_string(num_key_value_heads) + ")");
        if (head_dim % 2 != 0)
            throw error(errc::invalid_argument,
                        "llama config: head_dim must be even for rotary embeddings, got " + std::to_string(head_dim));
        if (max_position_embeddings < 0)
            throw error(errc::invalid_argument, "llama config: max_position_embeddings must be >= 0");
        if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
            throw error(errc::invalid_argument, "llama config: rms_norm_eps must be a finite number > 0");
        if (!(rope_theta > 1) || !std::isfinite(rope_theta))
            throw error(errc::invalid_argument, "llama config: rope_theta must be a finite number > 1");
        if (bos_token_id < 0 || bos_token_id >= vocab_size)
            throw error(errc::invalid_argument, "llama config: bos_token_id " + std::to_string(bos_token_id) +
                                                    " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                                                    ")");
    }
};

namespace detail {
inline int64_t json_int(const io::json& j, const char* key, const std::string& what, int64_t fallback, bool required) {
    const io::json* v = j.find(key);
    if (!v || v->is_null()) {
        if (required) throw error(errc::format, what + ": missing \"" + key + "\"");
        return fallback;
    }
    if (!v->is_number()) throw error(errc::format, what + ": \"" + key + "\" must be a number");
    double d = v->as_double();
    if (d != std::floor(d) || std::fabs(d) > 9.0e15)
        throw error(errc::format, what + ": \"" + key + "\" must be an integer");
    return static_cast<int64_t>(d);
}
inline double json_double(const io::json& j, const char* key, const std::string& what, double fallback) {
    const io::json* v = j.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_number()) throw error(errc::format, what + ": \"" + key + "\" must be a number");
    return v->as_double();
}
}  // namespace detail

/// Reads the fields above from a parsed config.json (`what` names the file in errors). Rejects what this forward pass
/// does not implement: other architectures, activations other than SiLU, biases, RoPE scaling.
inline llama_config parse_llama_config(const io::json& j, const std::string& what) {
    if (!j.is_object()) throw error(errc::format, what + ": expected a JSON object");
    if (const io::json* a = j.find("architectures"); a && !a->is_null()) {
        bool llama = false;
        if (!a->is_array()) throw error(errc::format, what + ": \"architectures\" must be an array");
        for (const io::json& e : a->items())
            if (e.is_string() && e.as_string() == "LlamaForCausalLM") llama = true;
        if (!llama) throw error(errc::unsupported, what + ": \"architectures\" does not list LlamaForCausalLM");
    } else if (const io::json* t = j.find("model_type"); !t || !t->is_string() || t->as_string() != "llama") {
        throw error(errc::unsupported, what + ": neither \"architectures\" nor \"model_type\" says llama");
    }
    if (const io::json* act = j.find("hidden_act"); act && act->is_string() && act->as_string() != "silu")
        throw error(errc::unsupported, what + ": hidden_act \"" + act->as_string() + "\" (only silu is implemented)");
    for (const char* key : {"attention_bias", "mlp_bias"})
        if (const io::json* b = j.find(key); b && b->is_bool() && b->as_bool())
            throw error(errc::unsupported, what + ": \"" + key + "\": true (biases are not implemented)");
    if (const io::json* s = j.find("rope_scaling"); s && !s->is_null())
        throw error(errc::unsupported, what + ": \"rope_scaling\" is set (only plain RoPE is implemented)");

    llama_config c;
    c.hidden_size = detail::json_int(j, "hidden_size", what, 0, true);
    c.intermediate_size = detail::json_int(j, "intermediate_size", what, 0, true);
    c.num_hidden_layers = detail::json_int(j, "num_hidden_layers", what, 0, true);
    c.num_attention_heads = detail::json_int(j, "num_attention_heads", what, 0, true);
    c.num_key_value_heads = detail::json_int(j, "num_key_value_heads", what, c.num_attention_heads, false);
    if (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads != 0 && !j.find("head_dim"))
        throw error(errc::format, what + ": hidden_size is not a multiple of num_attention_heads and no head_dim");
    c.head_dim = detail::json_int(j, "head_dim", what,
                                  c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0, false);
    c.vocab_size = detail::json_int(j, "vocab_size", what, 0, true);
    c.max_position_embeddings = detail::json_int(j, "max_position_embeddings", what, 0, false);
    c.rms_norm_eps = detail::json_double(j, "rms_norm_eps", what, 1e-6);
    c.rope_theta = detail::json_double(j, "rope_theta", what, 10000.0);
    // transformers ≥ 5 writes {"rope_parameters": {"rope_theta": …, "rope_type": "default"}}
    if (const io::json* rp = j.find("rope_parameters"); rp && rp->is_object()) {
        if (const io::json* type = rp->find("rope_type"); type && type->is_string() && type->as_string() != "default")
            throw error(errc::unsupported, what + ": rope_type \"" + type->as_string() + "\" (only default RoPE)");
        c.rope_theta = detail::json_double(*rp, "rope_theta", what + " rope_parameters", c.rope_theta);
    }
    if (const io::json* t = j.find("tie_word_embeddings"); t && !t->is_null()) {
        if (!t->is_bool()) throw error(errc::format, what + ": \"tie_word_embeddings\" must be true or false");
        c.tie_word_embeddings = t->as_bool();
    }
    c.bos_token_id = static_cast<int32_t>(detail::json_int(j, "bos_token_id", what, 1, false));
    try {
        c.validate();
    } catch (const error& e) {
        throw error(e.code(), what + ": " + e.what());
    }
    return c;
}

/// Reads and parses `<dir>/config.json`.
inline llama_config load_llama_config(const std::string& dir) {
    std::string path = dir + "/config.json";
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(errc::io, "cannot open " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_llama_config(io::json::parse(ss.str(), path), path);
}

// ---- where the weights come from ------------------------------------------------------------------------------------

/// Named tensors, widened to f32 on request. Implementations: a checkpoint on disk, tensors held in memory.
class weight_source {
public:
    virtual ~weight_source() = default;
    /// Shape of tensor `name`, or nullopt when the source has no such tensor.
    virtual std::optional<std::vector<int64_t>> shape(const std::string& name) const = 0;
    /// The tensor as f32, row-major (throws when absent or of a type that cannot be widened).
    virtual std::vector<float> load_f32(const std::string& name) const = 0;
};

/// A safetensors checkpoint (single file, directory, or sharded index) read through qamw::io.
class checkpoint_source : public weight_source {
public:
    explicit checkpoint_source(const io::checkpoint& ckpt) : ckpt_(ckpt) {}
    std::optional<std::vector<int64_t>> shape(const std::string& name) const override {
        const auto* t = ckpt_.find(name);
        if (!t) return std::nullopt;
        return std::vector<int64_t>(t->shape.begin(), t->shape.end());
    }
    std::vector<float> load_f32(const std::string& name) const override { return io::to_f32(ckpt_.view(name)); }

private:
    const io::checkpoint& ckpt_;
};

/// Tensors held in memory (tests, synthetic models, weights that a codec has already dequantized).
class memory_source : public weight_source {
public:
    void add(const std::string& name, std::vector<int64_t> shape, std::vector<float> data) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        if (n != static_cast<int64_t>(data.size()))
            throw error(errc::invalid_argument, "memory_source: tensor " + name + " has " +
                                                    std::to_string(data.size()) + " values for its shape");
        tensors_[name] = {std::move(shape), std::move(data)};
    }
    std::optional<std::vector<int64_t>> shape(const std::string& name) const override {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) return std::nullopt;
        return it->second.first;
    }
    std::vector<float> load_f32(const std::string& name) const override {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) throw error(errc::invalid_argument, "memory_source: no tensor " + name);
        return it->second.second;
    }

private:
    std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors_;
};

// ---- the pluggable linear layer -------------------------------------------------------------------------------------

/// y = x · Wᵀ for a batch of m rows.
struct linear {
    virtual ~linear() = default;
    virtual int64_t in_features() const = 0;
    virtual int64_t out_features() const = 0;
    /// x: m × in_features row-major; y: m × out_features row-major (overwritten). Must be thread-safe (const).
    virtual void forward(const float* x, int64_t m, float* y) const = 0;
    /// Bytes of weights held in memory.
    virtual std::size_t weight_bytes() const = 0;
    /// out[0, in_features) ← row i of the weight (an embedding lookup when the matrix is the token embedding).
    virtual void row(int64_t i, float* out) const = 0;
};

/// Builds the linear layer of one weight, given the checkpoint tensor name (e.g. "model.layers.0.mlp.up_proj.weight";
/// the tied lm_head is asked for as "model.embed_tokens.weight").
using linear_factory = std::function<std::unique_ptr<linear>(const std::string& weight_name)>;

/// Dense f32 weights [out, in] (the HF layout) multiplied with Eigen's matrix-matrix product.
class dense_linear : public linear {
public:
    dense_linear(std::vector<float> w, int64_t out, int64_t in) : w_(std::move(w)), out_(out), in_(in) {
        if (out <= 0 || in <= 0 || static_cast<int64_t>(w_.size()) != out * in)
            throw error(errc::invalid_argument, "dense_linear: weight size does not match its shape");
    }
    int64_t in_features() const override { return in_; }
    int64_t out_features() const override { return out_; }
    void forward(const float* x, int64_t m, float* y) const override {
        Eigen::Map<const row_matrix> X(x, m, in_), W(w_.data(), out_, in_);
        Eigen::Map<row_matrix> Y(y, m, out_);
        Y.noalias() = X * W.transpose();
    }
    std::size_t weight_bytes() const override { return w_.size() * sizeof(float); }
    void row(int64_t i, float* out) const override { std::copy_n(w_.data() + i * in_, in_, out); }
    const std::vector<float>& weights() const { return w_; }

private:
    std::vector<float> w_;
    int64_t out_, in_;
};

/// The default factory: loads the named 2-D tensor from `src` as f32, which must be finite (src must outlive the
/// factory's calls).
inline linear_factory dense_factory(const weight_source& src) {
    return [&src](const std::string& name) -> std::unique_ptr<linear> {
        auto shape = src.shape(name);
        if (!shape) throw error(errc::format, "checkpoint has no tensor " + name);
        if (shape->size() != 2)
            throw error(errc::format, "tensor " + name + ": expected 2 dimensions, got " +
                                          std::to_string(shape->size()));
        std::vector<float> w = src.load_f32(name);
        for (float f : w)
            if (!std::isfinite(f)) throw error(errc::non_finite, "tensor " + name + " holds a NaN or Inf");
        return std::make_unique<dense_linear>(std::move(w), (*shape)[0], (*shape)[1]);
    };
}

/// Called with each linear's input before the product: weight name, x (m × in row-major), m, in.
using input_observer = std::function<void(const std::string& weight_name, const float* x, int64_t m, int64_t in)>;

/// A linear that shows its input to an observer, then delegates.
class observed_linear : public linear {
public:
    observed_linear(std::unique_ptr<linear> inner, std::string name, input_observer obs)
        : inner_(std::move(inner)), name_(std::move(name)), obs_(std::move(obs)) {}
    int64_t in_features() const override { return inner_->in_features(); }
    int64_t out_features() const override { return inner_->out_features(); }
    void forward(const float* x, int64_t m, float* y) const override {
        obs_(name_, x, m, inner_->in_features());
        inner_->forward(x, m, y);
    }
    std::size_t weight_bytes() const override { return inner_->weight_bytes(); }
    void row(int64_t i, float* out) const override { inner_->row(i, out); }

private:
    std::unique_ptr<linear> inner_;
    std::string name_;
    input_observer obs_;
};

/// Wraps `inner` so that `obs` sees the input of every linear it builds (the observer must be thread-safe when the
/// model runs on several threads).
inline linear_factory observe_inputs(linear_factory inner, input_observer obs) {
    return [inner = std::move(inner), obs = std::move(obs)](const std::string& name) -> std::unique_ptr<linear> {
        return std::make_unique<observed_linear>(inner(name), name, obs);
    };
}

// ---- the model --------------------------------------------------------------------------------------------------------

/// Per-thread scratch buffers of `llama_model::forward` (grown on demand, reused across calls).
struct llama_workspace {
    row_matrix x, h, q, k, v, att, gate, up, scores, logits_in;
    std::vector<float> rope_cos, rope_sin;  ///< [n × head_dim/2]
    int64_t rope_n = -1;
};

class llama_model {
public:
    /// Builds the model from `src` (embeddings and norms) and `factory` (every linear; empty = dense f32 from `src`).
    /// Every tensor shape is checked against `cfg`; errors name the tensor.
    llama_model(const llama_config& cfg, const weight_source& src, linear_factory factory = {}) : cfg_(cfg) {
        cfg_.validate();
        if (!factory) factory = dense_factory(src);
        const int64_t d = cfg_.hidden_size;
        // The token embedding is a linear too, so that a quantized one stays packed (rows decoded per token).
        embed_ = make_linear(factory, "model.embed_tokens.weight", cfg_.vocab_size, d);
        layers_.resize(static_cast<std::size_t>(cfg_.num_hidden_layers));
        for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
            std::string p = "model.layers." + std::to_string(l) + ".";
            layer& L = layers_[static_cast<std::size_t>(l)];
            L.input_norm = load_tensor(src, p + "input_layernorm.weight", {d});
            L.post_norm = load_tensor(src, p + "post_attention_layernorm.weight", {d});
            std::unique_ptr<linear>* slots[] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
            const auto shapes = layer_linears(cfg_, l);
            for (std::size_t i = 0; i < shapes.size(); ++i)
                *slots[i] = make_linear(factory, shapes[i].name, shapes[i].out, shapes[i].in);
        }
        final_norm_ = load_tensor(src, "model.norm.weight", {d});
        bool has_lm_head = src.shape("lm_head.weight").has_value();
        lm_head_name_ = (cfg_.tie_word_embeddings || !has_lm_head) ? "model.embed_tokens.weight" : "lm_head.weight";
        if (lm_head_name_ == "lm_head.weight") untied_lm_head_ = make_linear(factory, lm_head_name_, cfg_.vocab_size, d);
        lm_head_ = untied_lm_head_ ? untied_lm_head_.get() : embed_.get();
    }

    /// A linear weight of the model: its tensor name, output and input features.
    struct linear_shape {
        std::string name;
        int64_t out, in;
    };
    /// The linear weights of decoder layer l in the order run_layer applies them: q, k, v, o, gate, up, down.
    static std::array<linear_shape, 7> layer_linears(const llama_config& c, int64_t l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const int64_t d = c.hidden_size;
        return {{{p + "self_attn.q_proj.weight", c.q_features(), d},
                 {p + "self_attn.k_proj.weight", c.kv_features(), d},
                 {p + "self_attn.v_proj.weight", c.kv_features(), d},
                 {p + "self_attn.o_proj.weight", d, c.q_features()},
                 {p + "mlp.gate_proj.weight", c.intermediate_size, d},
                 {p + "mlp.up_proj.weight", c.intermediate_size, d},
                 {p + "mlp.down_proj.weight", d, c.intermediate_size}}};
    }

    const llama_config& config() const { return cfg_; }
    /// Tensor the output projection was built from ("lm_head.weight" or the tied "model.embed_tokens.weight").
    const std::string& lm_head_name() const { return lm_head_name_; }

    /// Bytes of all weights held in memory (linears as reported by their implementation, plus embeddings and norms).
    std::size_t weight_bytes() const {
        std::size_t b = final_norm_.size() * sizeof(float) + embed_->weight_bytes() +
                        (untied_lm_head_ ? untied_lm_head_->weight_bytes() : 0);
        for (const auto& L : layers_)
            b += (L.input_norm.size() + L.post_norm.size()) * sizeof(float) + L.q->weight_bytes() +
                 L.k->weight_bytes() + L.v->weight_bytes() + L.o->weight_bytes() + L.gate->weight_bytes() +
                 L.up->weight_bytes() + L.down->weight_bytes();
        return b;
    }

    /// One causal prompt: tokens[0 … n) at positions 0 … n−1. Writes the logits of positions
    /// [logits_begin, logits_end) to `logits` ((logits_end − logits_begin) × vocab_size, row-major).
    /// The same as embed, run_layer for every layer (the last one from row logits_begin when logits are asked for) and
    /// head, which callers may also run one stage at a time (e.g. to keep the hidden state between layers).
    void forward(const int32_t* tokens, int64_t n, int64_t logits_begin, int64_t logits_end, llama_workspace& ws,
                 float* logits) const {
        if (logits_begin < 0 || logits_begin > logits_end || logits_end > n)
            throw error(errc::invalid_argument, "llama forward: logits range outside the prompt");
        embed(tokens, n, ws);
        forward_from(0, logits_begin, logits_end, ws, logits);
    }

    /// Forward stages 2 and 3 from layer l0 on the hidden state ws.x (the input of layer l0, in a workspace `embed`
    /// sized): run_layer for layers l0 … L−1 and head, as `forward` runs them. `before_layer(l, ws.x)`, when given,
    /// sees the input of each layer first (to keep it, e.g. to start later passes at that layer).
    void forward_from(std::size_t l0, int64_t logits_begin, int64_t logits_end, llama_workspace& ws, float* logits,
                      const std::function<void(std::size_t, const row_matrix&)>& before_layer = {}) const {
        for (std::size_t l = l0; l < layers_.size(); ++l) {
            if (before_layer) before_layer(l, ws.x);
            // Rows whose output is still needed: all of them, except in the last layer, where only the positions
            // that produce logits matter (keys and values still cover every position).
            run_layer(l, (l + 1 == layers_.size() && logits_end > logits_begin) ? logits_begin : 0, ws);
        }
        head(logits_begin, logits_end, ws, logits);
    }

    /// Forward stage 1: checks the prompt tokens[0 … n), sizes `ws` for n positions and writes their embeddings to
    /// the hidden state ws.x (n × hidden_size).
    void embed(const int32_t* tokens, int64_t n, llama_workspace& ws) const {
        if (n <= 0) throw error(errc::invalid_argument, "llama forward: empty prompt");
        if (cfg_.max_position_embeddings > 0 && n > cfg_.max_position_embeddings)
            throw error(errc::invalid_argument, "llama forward: " + std::to_string(n) +
                                                    " tokens exceed max_position_embeddings " +
                                                    std::to_string(cfg_.max_position_embeddings));
        const int64_t d = cfg_.hidden_size, ff = cfg_.intermediate_size;
        ws.x.resize(n, d);
        ws.h.resize(n, d);
        ws.q.resize(n, cfg_.q_features());
        ws.k.resize(n, cfg_.kv_features());
        ws.v.resize(n, cfg_.kv_features());
        ws.att.resize(n, cfg_.q_features());
        ws.gate.resize(n, ff);
        ws.up.resize(n, ff);
        prepare_rope(n, ws);
        for (int64_t i = 0; i < n; ++i) {
            int32_t t = tokens[i];
            if (t < 0 || t >= cfg_.vocab_size)
                throw error(errc::invalid_argument, "llama forward: token id " + std::to_string(t) + " at position " +
                                                        std::to_string(i) + " is outside the vocabulary [0, " +
                                                        std::to_string(cfg_.vocab_size) + ")");
            embed_->row(t, ws.x.row(i).data());
        }
    }

    /// Forward stage 2: decoder layer l on the hidden state ws.x of the n positions `embed` sized `ws` for, in place.
    /// Rows [r0, n) of the result are computed (keys and values cover every position); rows before r0 keep stale
    /// values, which only a last layer may leave (its head then reads rows ≥ r0).
    void run_layer(std::size_t l, int64_t r0, llama_workspace& ws) const {
        const int64_t n = ws.x.rows(), d = cfg_.hidden_size;
        if (l >= layers_.size()) throw error(errc::invalid_argument, "llama forward: no layer " + std::to_string(l));
        if (n <= 0 || ws.rope_n < n || ws.gate.rows() != n || r0 < 0 || r0 >= n)
            throw error(errc::invalid_argument, "llama forward: run_layer needs a workspace sized by embed and r0 < n");
        const layer& L = layers_[l];
        const int64_t m = n - r0;
        rms_norm(ws.x, 0, n, L.input_norm, ws.h);
        L.q->forward(ws.h.data() + r0 * d, m, ws.q.data() + r0 * cfg_.q_features());
        L.k->forward(ws.h.data(), n, ws.k.data());
        L.v->forward(ws.h.data(), n, ws.v.data());
        apply_rope(ws.q, r0, n, cfg_.num_attention_heads, ws);
        apply_rope(ws.k, 0, n, cfg_.num_key_value_heads, ws);
        attention(r0, n, ws);
        L.o->forward(ws.att.data() + r0 * cfg_.q_features(), m, ws.h.data());
        ws.x.bottomRows(m) += ws.h.topRows(m);
        rms_norm(ws.x, r0, m, L.post_norm, ws.h);
        L.gate->forward(ws.h.data(), m, ws.gate.data());
        L.up->forward(ws.h.data(), m, ws.up.data());
        auto g = ws.gate.topRows(m).array();
        g = g / (1.0f + (-g).exp()) * ws.up.topRows(m).array();
        L.down->forward(ws.gate.data(), m, ws.h.data());
        ws.x.bottomRows(m) += ws.h.topRows(m);
    }

    /// Forward stage 3: final norm and output projection of hidden-state rows [logits_begin, logits_end) of ws.x into
    /// `logits` ((logits_end − logits_begin) × vocab_size, row-major).
    void head(int64_t logits_begin, int64_t logits_end, llama_workspace& ws, float* logits) const {
        final_norm(logits_begin, logits_end, ws);
        if (logits_end > logits_begin) lm_head_->forward(ws.logits_in.data(), logits_end - logits_begin, logits);
    }

    /// The first half of `head`: the final norm of hidden-state rows [begin, end) of ws.x into ws.logits_in ((end −
    /// begin) × hidden_size), the output projection's input.
    void final_norm(int64_t begin, int64_t end, llama_workspace& ws) const {
        if (begin < 0 || begin > end || end > ws.x.rows())
            throw error(errc::invalid_argument, "llama forward: logits range outside the prompt");
        if (end == begin) return;
        ws.logits_in.resize(end - begin, cfg_.hidden_size);
        rms_norm(ws.x, begin, end - begin, final_norm_, ws.logits_in);
    }

private:
    struct layer {
        std::vector<float> input_norm, post_norm;
        std::unique_ptr<linear> q, k, v, o, gate, up, down;
    };

    static std::string shape_string(const std::vector<int64_t>& s) {
        std::string r = "[";
        for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
        return r + "]";
    }

    static std::vector<float> load_tensor(const weight_source& src, const std::string& name,
                                          const std::vector<int64_t>& expect) {
        auto shape = src.shape(name);
        if (!shape) throw error(errc::format, "checkpoint has no tensor " + name);
        if (*shape != expect)
            throw error(errc::format, "tensor " + name + " has shape " + shape_string(*shape) + ", the config implies " +
                                          shape_string(expect));
        std::vector<float> v = src.load_f32(name);
        for (float f : v)
            if (!std::isfinite(f)) throw error(errc::non_finite, "tensor " + name + " holds a NaN or Inf");
        return v;
    }

    static std::unique_ptr<linear> make_linear(const linear_factory& factory, const std::string& name, int64_t out,
                                               int64_t in) {
        std::unique_ptr<linear> lin = factory(name);
        if (!lin) throw error(errc::invalid_argument, "linear factory returned nothing for " + name);
        if (lin->out_features() != out || lin->in_features() != in)
            throw error(errc::format, "tensor " + name + " has shape " +
                                          shape_string({lin->out_features(), lin->in_features()}) +
                                          ", the config implies " + shape_string({out, in}));
        return lin;
    }

    /// out.rows [0, m) = RMSNorm(x.rows [first, first+m)) ⊙ w (sum of squares in double).
    void rms_norm(const row_matrix& x, int64_t first, int64_t m, const std::vector<float>& w, row_matrix& out) const {
        const int64_t d = cfg_.hidden_size;
        Eigen::Map<const Eigen::ArrayXf> wa(w.data(), d);
        for (int64_t i = 0; i < m; ++i) {
            const float* r = x.data() + (first + i) * d;
            double ss = 0;
            for (int64_t j = 0; j < d; ++j) ss += double(r[j]) * double(r[j]);
            float inv = static_cast<float>(1.0 / std::sqrt(ss / double(d) + cfg_.rms_norm_eps));
            out.row(i).array() = Eigen::Map<const Eigen::ArrayXf>(r, d).transpose() * inv * wa.transpose();
        }
    }

    /// cos/sin of position p · θ^(−2i/d) for p < n, i < d/2 (angles in float as transformers computes them).
    void prepare_rope(int64_t n, llama_workspace& ws) const {
        if (ws.rope_n >= n) return;
        const int64_t half = cfg_.head_dim / 2;
        ws.rope_cos.resize(static_cast<std::size_t>(n * half));
        ws.rope_sin.resize(static_cast<std::size_t>(n * half));
        for (int64_t i = 0; i < half; ++i) {
            float inv_freq = static_cast<float>(1.0 / std::pow(cfg_.rope_theta, double(2 * i) / double(cfg_.head_dim)));
            for (int64_t p = 0; p < n; ++p) {
                float angle = static_cast<float>(p) * inv_freq;
                ws.rope_cos[std::size_t(p * half + i)] = std::cos(angle);
                ws.rope_sin[std::size_t(p * half + i)] = std::sin(angle);
            }
        }
        ws.rope_n = n;
    }

    /// Rotate-half RoPE in place on rows [first, n) (row = position) of `heads` heads of head_dim columns each.
    void apply_rope(row_matrix& t, int64_t first, int64_t n, int64_t heads, const llama_workspace& ws) const {
        const int64_t half = cfg_.head_dim / 2;
        for (int64_t p = first; p < n; ++p) {
            const float* c = ws.rope_cos.data() + p * half;
            const float* s = ws.rope_sin.data() + p * half;
            for (int64_t h = 0; h < heads; ++h) {
                float* a = t.data() + p * t.cols() + h * cfg_.head_dim;
                float* b = a + half;
                for (int64_t i = 0; i < half; ++i) {
                    float x1 = a[i], x2 = b[i];
                    a[i] = x1 * c[i] - x2 * s[i];
                    b[i] = x2 * c[i] + x1 * s[i];
                }
            }
        }
    }

    /// ws.att rows [first, n) = causal grouped-query attention of those rows of ws.q against ws.k, ws.v rows [0, n).
    /// Query rows are processed in blocks of `block` against the keys [0, end of block), so the masked upper triangle
    /// is mostly never computed.
    void attention(int64_t first, int64_t n, llama_workspace& ws) const {
        using strided = Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>;
        using cstrided = Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>>;
        const int64_t hd = cfg_.head_dim, hq = cfg_.num_attention_heads, group = hq / cfg_.num_key_value_heads;
        const int64_t qs = cfg_.q_features(), ks = cfg_.kv_features();
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        constexpr int64_t block = 64;
        ws.scores.resize(std::min(block, n), n);
        for (int64_t h = 0; h < hq; ++h) {
            const int64_t g = h / group;
            for (int64_t r0 = first; r0 < n; r0 += block) {
                const int64_t rows = std::min(block, n - r0), keys = r0 + rows;
                cstrided Q(ws.q.data() + r0 * qs + h * hd, rows, hd, Eigen::OuterStride<>(qs));
                cstrided K(ws.k.data() + g * hd, keys, hd, Eigen::OuterStride<>(ks));
                cstrided V(ws.v.data() + g * hd, keys, hd, Eigen::OuterStride<>(ks));
                strided S(ws.scores.data(), rows, keys, Eigen::OuterStride<>(n));
                S.noalias() = Q * K.transpose();
                for (int64_t i = 0; i < rows; ++i) {
                    const int64_t valid = r0 + i + 1;  // keys 0 … position
                    auto row = S.row(i);
                    auto live = row.head(valid).array();
                    live *= scale;
                    float mx = live.maxCoeff();
                    live = (live - mx).exp();
                    live *= 1.0f / live.sum();
                    row.tail(keys - valid).setZero();
                }
                strided O(ws.att.data() + r0 * qs + h * hd, rows, hd, Eigen::OuterStride<>(qs));
                O.noalias() = S * V;
            }
        }
    }

    llama_config cfg_;
    std::vector<float> final_norm_;
    std::unique_ptr<linear> embed_, untied_lm_head_;
    const linear* lm_head_ = nullptr;  ///< untied_lm_head_, or embed_ when tied
    std::vector<layer> layers_;
    std::string lm_head_name_;
};

/// A model on disk: config.json plus its safetensors weights (the checkpoint stays open for the factory's use).
struct llama_checkpoint {
    llama_config config;
    io::checkpoint ckpt;
    std::string dir;

    /// `path`: the model directory (config.json + model.safetensors or a sharded index).
    static llama_checkpoint open(const std::string& path) {
        io::checkpoint ckpt = io::checkpoint::open(path);
        llama_config cfg = load_llama_config(ckpt.directory());
        return llama_checkpoint{cfg, std::move(ckpt), path};
    }
};

/// Loads a model directory with dense f32 linears, or with the linears `factory` builds (which may read the same
/// checkpoint through `checkpoint_source`).
inline llama_model load_llama(const std::string& path, const std::function<linear_factory(const weight_source&)>&
                                                           make_factory = {}) {
    llama_checkpoint m = llama_checkpoint::open(path);
    checkpoint_source src(m.ckpt);
    return llama_model(m.config, src, make_factory ? make_factory(src) : dense_factory(src));
}

}  // namespace qamw::eval
