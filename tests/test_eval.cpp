// tests/test_eval.cpp — the reference evaluator (tools/eval/): the Llama forward pass against a naive loop
// implementation, the reference perplexity of stories260K, thread-count independence, KL divergence (self = 0, the
// top-K + tail-sample estimate against the exact full-vocabulary KL), base-file validation, config parsing, the
// pluggable linear layer, and the activation statistics of `qamw stats`.
#include "fsize_limit.hpp"
#include "shared_data.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <eval/act_stats.hpp>
#include <eval/llama.hpp>
#include <eval/perplexity.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include <unistd.h>


using namespace qamw::eval;
namespace fs = std::filesystem;

namespace {

using qamw::test::require_shared;
using qamw::test::shared_dir;

std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / ("qamw_test_eval_" + std::to_string(::getpid()) + "_" + name)).string();
}

// ---- a synthetic model and a naive implementation of the same forward pass -----------------------------------------

std::vector<float> random_vector(std::mt19937_64& rng, std::size_t n, float scale, float offset = 0) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * g(rng);
    return v;
}

llama_config small_config(bool tied, int64_t head_dim) {
    llama_config c;
    c.hidden_size = 24;
    c.intermediate_size = 40;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = head_dim;
    c.vocab_size = 50;
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.tie_word_embeddings = tied;
    return c;
}

memory_source random_weights(const llama_config& c, uint64_t seed, bool with_lm_head) {
    std::mt19937_64 rng(seed);
    memory_source src;
    const int64_t d = c.hidden_size, ff = c.intermediate_size, qf = c.q_features(), kvf = c.kv_features();
    auto mat = [&](const std::string& name, int64_t out, int64_t in) {
        src.add(name, {out, in}, random_vector(rng, std::size_t(out * in), 1.0f / std::sqrt(float(in))));
    };
    src.add("model.embed_tokens.weight", {c.vocab_size, d}, random_vector(rng, std::size_t(c.vocab_size * d), 1.0f));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        src.add(p + "input_layernorm.weight", {d}, random_vector(rng, std::size_t(d), 0.2f, 1.0f));
        src.add(p + "post_attention_layernorm.weight", {d}, random_vector(rng, std::size_t(d), 0.2f, 1.0f));
        mat(p + "self_attn.q_proj.weight", qf, d);
        mat(p + "self_attn.k_proj.weight", kvf, d);
        mat(p + "self_attn.v_proj.weight", kvf, d);
        mat(p + "self_attn.o_proj.weight", d, qf);
        mat(p + "mlp.gate_proj.weight", ff, d);
        mat(p + "mlp.up_proj.weight", ff, d);
        mat(p + "mlp.down_proj.weight", d, ff);
    }
    src.add("model.norm.weight", {d}, random_vector(rng, std::size_t(d), 0.2f, 1.0f));
    if (with_lm_head) mat("lm_head.weight", c.vocab_size, d);
    return src;
}

using naive_observer = std::function<void(const std::string&, const std::vector<std::vector<double>>&)>;

/// The forward pass written as plainly as possible: nested loops, double arithmetic, no Eigen. Returns n × vocab logits.
std::vector<std::vector<double>> naive_forward(const llama_config& c, const weight_source& src,
                                               const std::vector<int32_t>& tok, const naive_observer& obs = {}) {
    using mat = std::vector<std::vector<double>>;
    const int64_t n = int64_t(tok.size()), d = c.hidden_size, hd = c.head_dim;
    auto W = [&](const std::string& name) { return src.load_f32(name); };
    auto linear = [&](const mat& x, const std::string& name, int64_t out) {
        if (obs) obs(name, x);
        std::vector<float> w = W(name);
        const int64_t in = int64_t(x[0].size());
        mat y(x.size(), std::vector<double>(std::size_t(out)));
        for (std::size_t i = 0; i < x.size(); ++i)
            for (int64_t o = 0; o < out; ++o) {
                double s = 0;
                for (int64_t j = 0; j < in; ++j) s += x[i][std::size_t(j)] * w[std::size_t(o * in + j)];
                y[i][std::size_t(o)] = s;
            }
        return y;
    };
    auto rmsnorm = [&](const mat& x, const std::string& name) {
        std::vector<float> w = W(name);
        mat y = x;
        for (auto& r : y) {
            double ss = 0;
            for (double v : r) ss += v * v;
            double inv = 1.0 / std::sqrt(ss / double(d) + c.rms_norm_eps);
            for (int64_t j = 0; j < d; ++j) r[std::size_t(j)] *= inv * w[std::size_t(j)];
        }
        return y;
    };
    auto rope = [&](mat& t, int64_t heads) {
        for (int64_t p = 0; p < n; ++p)
            for (int64_t h = 0; h < heads; ++h)
                for (int64_t i = 0; i < hd / 2; ++i) {
                    double angle = double(p) * std::pow(c.rope_theta, -2.0 * double(i) / double(hd));
                    double& a = t[std::size_t(p)][std::size_t(h * hd + i)];
                    double& b = t[std::size_t(p)][std::size_t(h * hd + i + hd / 2)];
                    double x1 = a, x2 = b;
                    a = x1 * std::cos(angle) - x2 * std::sin(angle);
                    b = x2 * std::cos(angle) + x1 * std::sin(angle);
                }
    };
    std::vector<float> emb = W("model.embed_tokens.weight");
    mat x(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(d)));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) x[std::size_t(i)][std::size_t(j)] = emb[std::size_t(tok[std::size_t(i)] * d + j)];
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        mat h = rmsnorm(x, p + "input_layernorm.weight");
        mat q = linear(h, p + "self_attn.q_proj.weight", c.q_features());
        mat k = linear(h, p + "self_attn.k_proj.weight", c.kv_features());
        mat v = linear(h, p + "self_attn.v_proj.weight", c.kv_features());
        rope(q, c.num_attention_heads);
        rope(k, c.num_key_value_heads);
        mat att(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(c.q_features()), 0.0));
        const int64_t group = c.num_attention_heads / c.num_key_value_heads;
        for (int64_t head = 0; head < c.num_attention_heads; ++head) {
            const int64_t g = head / group;
            for (int64_t i = 0; i < n; ++i) {
                std::vector<double> s(std::size_t(i + 1));
                double mx = -1e300;
                for (int64_t j = 0; j <= i; ++j) {
                    double dot = 0;
                    for (int64_t e = 0; e < hd; ++e)
                        dot += q[std::size_t(i)][std::size_t(head * hd + e)] * k[std::size_t(j)][std::size_t(g * hd + e)];
                    s[std::size_t(j)] = dot / std::sqrt(double(hd));
                    mx = std::max(mx, s[std::size_t(j)]);
                }
                double sum = 0;
                for (auto& e : s) sum += (e = std::exp(e - mx));
                for (int64_t j = 0; j <= i; ++j)
                    for (int64_t e = 0; e < hd; ++e)
                        att[std::size_t(i)][std::size_t(head * hd + e)] +=
                            s[std::size_t(j)] / sum * v[std::size_t(j)][std::size_t(g * hd + e)];
            }
        }
        mat o = linear(att, p + "self_attn.o_proj.weight", d);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < d; ++j) x[std::size_t(i)][std::size_t(j)] += o[std::size_t(i)][std::size_t(j)];
        mat h2 = rmsnorm(x, p + "post_attention_layernorm.weight");
        mat gate = linear(h2, p + "mlp.gate_proj.weight", c.intermediate_size);
        mat up = linear(h2, p + "mlp.up_proj.weight", c.intermediate_size);
        for (std::size_t i = 0; i < gate.size(); ++i)
            for (std::size_t j = 0; j < gate[i].size(); ++j)
                gate[i][j] = gate[i][j] / (1.0 + std::exp(-gate[i][j])) * up[i][j];
        mat down = linear(gate, p + "mlp.down_proj.weight", d);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < d; ++j) x[std::size_t(i)][std::size_t(j)] += down[std::size_t(i)][std::size_t(j)];
    }
    mat hf = rmsnorm(x, "model.norm.weight");
    const bool tied = c.tie_word_embeddings || !src.shape("lm_head.weight");
    return linear(hf, tied ? "model.embed_tokens.weight" : "lm_head.weight", c.vocab_size);
}

std::vector<int32_t> random_tokens(std::size_t n, int32_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> u(0, vocab - 1);
    std::vector<int32_t> t(n);
    for (auto& x : t) x = u(rng);
    return t;
}

/// Exact KL(P_a ‖ P_b) of two logit rows over the full vocabulary, in double.
double exact_kl(const float* a, const float* b, int64_t V) {
    double ma = *std::max_element(a, a + V), mb = *std::max_element(b, b + V), sa = 0, sb = 0;
    for (int64_t v = 0; v < V; ++v) sa += std::exp(a[v] - ma), sb += std::exp(b[v] - mb);
    const double la = ma + std::log(sa), lb = mb + std::log(sb);
    double kl = 0;
    for (int64_t v = 0; v < V; ++v) kl += std::exp(a[v] - la) * ((a[v] - la) - (b[v] - lb));
    return kl;
}

/// Round-to-nearest 4-bit quantization of every linear, groups of 32 along the rows: a stand-in for a codec, plugged in
/// through the linear_factory like QAM-W kernels will be.
linear_factory rtn_factory(const weight_source& src, int bits) {
    return [&src, bits](const std::string& name) -> std::unique_ptr<linear> {
        std::vector<int64_t> shape = *src.shape(name);
        std::vector<float> w = src.load_f32(name);
        const float qmax = float((1 << (bits - 1)) - 1);
        for (std::size_t g = 0; g < w.size(); g += 32) {
            float a = 0;
            for (std::size_t i = g; i < std::min(g + 32, w.size()); ++i) a = std::max(a, std::fabs(w[i]));
            if (a == 0) continue;
            for (std::size_t i = g; i < std::min(g + 32, w.size()); ++i) w[i] = std::round(w[i] / a * qmax) * a / qmax;
        }
        return std::make_unique<dense_linear>(std::move(w), shape[0], shape[1]);
    };
}

}  // namespace

// ---- the forward pass ------------------------------------------------------------------------------------------------

TEST_CASE("eval: the Eigen forward pass equals a naive loop implementation", "[eval]") {
    for (int variant = 0; variant < 3; ++variant) {
        // 0: separate lm_head, head_dim = hidden/heads; 1: tied, head_dim 8 ≠ hidden/heads; 2: lm_head absent → tied
        const bool tied = variant == 1;
        llama_config c = small_config(tied, variant == 1 ? 8 : 6);
        memory_source src = random_weights(c, 100 + uint64_t(variant), variant == 0);
        llama_model model(c, src);
        // 150 positions: crosses the 64-row attention blocks, and is not a multiple of them
        std::vector<int32_t> tok = random_tokens(150, int32_t(c.vocab_size), 7 + uint64_t(variant));
        auto ref = naive_forward(c, src, tok);
        llama_workspace ws;
        const int64_t n = int64_t(tok.size()), V = c.vocab_size;
        // every position, then only a range (the last layer then skips the rows nobody reads)
        for (auto [b, e] : {std::pair<int64_t, int64_t>{0, n}, {n / 2 - 1, n - 1}, {n - 1, n}}) {
            std::vector<float> logits(std::size_t((e - b) * V));
            model.forward(tok.data(), n, b, e, ws, logits.data());
            double worst = 0, scale = 0;
            for (int64_t i = b; i < e; ++i)
                for (int64_t v = 0; v < V; ++v) {
                    double r = ref[std::size_t(i)][std::size_t(v)];
                    worst = std::max(worst, std::fabs(double(logits[std::size_t((i - b) * V + v)]) - r));
                    scale = std::max(scale, std::fabs(r));
                }
            INFO("variant " << variant << ", logits of positions [" << b << ", " << e << "): max |error| " << worst
                            << ", max |logit| " << scale);
            CHECK(worst <= 2e-5 * scale + 1e-5);
        }
    }
}

TEST_CASE("eval: configuration parsing, defaults and rejections", "[eval]") {
    using qamw::io::json;
    auto parse = [](const std::string& text) { return parse_llama_config(json::parse(text, "test"), "config.json"); };
    const std::string base =
        R"("architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
           "num_attention_heads": 8, "vocab_size": 512, "rms_norm_eps": 1e-05)";
    llama_config c = parse("{" + base + "}");
    CHECK(c.num_key_value_heads == 8);  // default: heads
    CHECK(c.head_dim == 8);             // default: hidden / heads
    CHECK(c.rope_theta == 10000.0);
    CHECK(!c.tie_word_embeddings);
    CHECK(c.bos_token_id == 1);
    c = parse("{" + base + R"(, "num_key_value_heads": 4, "head_dim": 16, "tie_word_embeddings": true,
                               "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}})");
    CHECK(c.num_key_value_heads == 4);
    CHECK(c.head_dim == 16);
    CHECK(c.tie_word_embeddings);
    CHECK(c.rope_theta == 500000.0);

    auto rejects = [&](const std::string& text, const std::string& needle) {
        INFO(text);
        try {
            parse(text);
            FAIL("accepted");
        } catch (const qamw::error& e) {
            CHECK_THAT(e.what(), Catch::Contains(needle));
        }
    };
    rejects(R"({"architectures": ["LlamaForCausalLM"], "intermediate_size": 1, "num_hidden_layers": 1,
                "num_attention_heads": 1, "vocab_size": 2})",
            "hidden_size");
    rejects("{" + base + R"(, "num_key_value_heads": 3})", "multiple of num_key_value_heads");
    rejects("{" + base + R"(, "rope_scaling": {"type": "linear", "factor": 2.0}})", "rope_scaling");
    rejects("{" + base + R"(, "hidden_act": "gelu"})", "hidden_act");
    rejects("{" + base + R"(, "attention_bias": true})", "attention_bias");
    rejects(R"({"architectures": ["MistralForCausalLM"], "hidden_size": 64})", "LlamaForCausalLM");
    rejects("{" + base + R"(, "head_dim": 7})", "even");
    rejects("{" + base + R"(, "vocab_size": 0})", "vocab_size");
}

TEST_CASE("eval: tensor shapes are validated and errors name the tensor", "[eval]") {
    llama_config c = small_config(false, 6);
    memory_source src = random_weights(c, 1, true);
    memory_source bad = src;
    bad.add("model.layers.1.mlp.up_proj.weight", {c.intermediate_size, c.hidden_size + 1},
            std::vector<float>(std::size_t(c.intermediate_size * (c.hidden_size + 1))));
    CHECK_THROWS_WITH(llama_model(c, bad), Catch::Contains("model.layers.1.mlp.up_proj.weight"));
    memory_source bad_norm = src;
    bad_norm.add("model.norm.weight", {c.hidden_size, 1}, std::vector<float>(std::size_t(c.hidden_size)));
    CHECK_THROWS_WITH(llama_model(c, bad_norm), Catch::Contains("model.norm.weight"));
    memory_source nan = src;
    std::vector<float> e = src.load_f32("model.embed_tokens.weight");
    e[5] = std::nanf("");
    nan.add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, e);
    CHECK_THROWS_WITH(llama_model(c, nan), Catch::Contains("model.embed_tokens.weight"));
    llama_config missing = c;
    missing.num_hidden_layers = 3;  // model.layers.2.* do not exist
    CHECK_THROWS_WITH(llama_model(missing, src), Catch::Contains("model.layers.2."));

    llama_model model(c, src);
    llama_workspace ws;
    std::vector<int32_t> tok = {1, 2, int32_t(c.vocab_size)};
    std::vector<float> logits(std::size_t(c.vocab_size));
    CHECK_THROWS_WITH(model.forward(tok.data(), 3, 2, 3, ws, logits.data()), Catch::Contains("outside the vocabulary"));
}

TEST_CASE("eval: every linear goes through the factory (the QAM-W plug-in point)", "[eval]") {
    llama_config c = small_config(true, 6);
    memory_source src = random_weights(c, 3, false);
    std::vector<std::string> built;
    auto seen = std::make_shared<std::multiset<std::string>>();
    linear_factory dense = dense_factory(src);
    linear_factory recording = [&](const std::string& name) {
        built.push_back(name);
        return dense(name);
    };
    llama_model model(c, src, observe_inputs(recording, [seen](const std::string& name, const float*, int64_t,
                                                               int64_t) { seen->insert(name); }));
    CHECK(built.size() == std::size_t(7 * c.num_hidden_layers + 1));
    CHECK(built.front() == "model.embed_tokens.weight");  // the embedding, which is also the tied lm_head
    CHECK(model.lm_head_name() == "model.embed_tokens.weight");
    std::vector<int32_t> tok = random_tokens(20, int32_t(c.vocab_size), 1);
    std::vector<float> logits(std::size_t(20 * c.vocab_size));
    llama_workspace ws;
    model.forward(tok.data(), 20, 0, 20, ws, logits.data());
    for (const auto& name : built) CHECK(seen->count(name) == 1);
}

// ---- perplexity ----------------------------------------------------------------------------------------------------------

TEST_CASE("eval: stories260K f32 perplexity matches the transformers reference", "[eval][shared]") {
    require_shared({"models/stories260K/model.safetensors", "data/tokens/tinystories-valid.tok512.i32"});
    llama_model model = load_llama(shared_dir + "/models/stories260K");
    std::vector<int32_t> tokens = read_tokens(shared_dir + "/data/tokens/tinystories-valid.tok512.i32");
    eval_options opt;
    opt.n_ctx = 256;
    opt.threads = 2;
    eval_result r = evaluate_perplexity(model, tokens, opt);
    CHECK(r.windows == 60);
    CHECK(r.scored == 7680);
    INFO("PPL " << r.ppl);
    CHECK(std::fabs(r.ppl / 6.4054 - 1) < 0.0005);  // DATA.md: PyTorch f32, 6.4054

    SECTION("the thread count does not change a single bit") {
        for (int t : {1, 3}) {
            eval_options o = opt;
            o.threads = t;
            o.max_windows = 0;
            eval_result r2 = evaluate_perplexity(model, tokens, o);
            CHECK(r2.nll_mean == r.nll_mean);
            CHECK(r2.nll_per_position == r.nll_per_position);
        }
    }
    SECTION("--windows limits the run to the first windows") {
        eval_options o = opt;
        o.max_windows = 5;
        eval_result r5 = evaluate_perplexity(model, tokens, o);
        CHECK(r5.windows == 5);
        CHECK(r5.scored == 5 * 128);
        CHECK(std::equal(r5.nll_per_position.begin(), r5.nll_per_position.end(), r.nll_per_position.begin()));
    }
}

TEST_CASE("eval: protocol arithmetic on a synthetic model", "[eval]") {
    llama_config c = small_config(false, 6);
    memory_source src = random_weights(c, 11, true);
    llama_model model(c, src);
    std::vector<int32_t> tokens = random_tokens(3 * 17 + 5, int32_t(c.vocab_size), 5);
    eval_options opt;
    opt.n_ctx = 17;  // odd: positions 8 … 16 are scored (9 per window)
    opt.threads = 2;
    eval_result r = evaluate_perplexity(model, tokens, opt);
    REQUIRE(r.windows == 3);
    REQUIRE(r.scored == 27);
    // recompute the NLLs from the naive forward pass with the BOS substitution
    double sum = 0;
    for (int64_t w = 0; w < 3; ++w) {
        std::vector<int32_t> t(tokens.begin() + w * 17, tokens.begin() + (w + 1) * 17);
        t[0] = 1;
        auto logits = naive_forward(c, src, t);
        for (int64_t j = 0; j < 9; ++j) {
            const auto& z = logits[std::size_t(7 + j)];
            double mx = *std::max_element(z.begin(), z.end()), s = 0;
            for (double v : z) s += std::exp(v - mx);
            const double nll = mx + std::log(s) - z[std::size_t(t[std::size_t(8 + j)])];
            CHECK(r.nll_per_position[std::size_t(w * 9 + j)] == Approx(nll).epsilon(1e-4).margin(1e-5));
            sum += nll;
        }
    }
    CHECK(r.ppl == Approx(std::exp(sum / 27)).epsilon(1e-4));
    double var = 0;
    for (double x : r.nll_per_position) var += (x - r.nll_mean) * (x - r.nll_mean);
    CHECK(r.ppl_se == Approx(r.ppl * std::sqrt(var / 26) / std::sqrt(27.0)).epsilon(1e-9));

    std::vector<int32_t> bad = tokens;
    bad[20] = int32_t(c.vocab_size);
    CHECK_THROWS_WITH(evaluate_perplexity(model, bad, opt), Catch::Contains("token 20"));
    bad[20] = -1;
    CHECK_THROWS_WITH(evaluate_perplexity(model, bad, opt), Catch::Contains("token 20"));
    std::vector<int32_t> short_file(10, 3);
    CHECK_THROWS_WITH(evaluate_perplexity(model, short_file, opt), Catch::Contains("fewer than one window"));
}

TEST_CASE("eval: token files are little-endian int32 and validated", "[eval]") {
    const std::string path = temp_path("tokens.i32");
    {
        std::ofstream f(path, std::ios::binary);
        const unsigned char bytes[] = {1, 0, 0, 0, 0x34, 0x12, 0, 0, 0xff, 0xff, 0xff, 0xff};
        f.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
    }
    CHECK(read_tokens(path) == std::vector<int32_t>{1, 0x1234, -1});
    {
        std::ofstream f(path, std::ios::binary | std::ios::app);
        f.put(7);
    }
    CHECK_THROWS_WITH(read_tokens(path), Catch::Contains("multiple of 4"));
    { std::ofstream f(path, std::ios::binary | std::ios::trunc); }
    CHECK_THROWS_WITH(read_tokens(path), Catch::Contains("empty"));
    fs::remove(path);
    CHECK_THROWS_AS(read_tokens(path), qamw::error);
}

// ---- KL divergence ---------------------------------------------------------------------------------------------------

TEST_CASE("eval: KL divergence of a model against itself is 0 with top-1 agreement 1", "[eval]") {
    llama_config c = small_config(true, 6);
    memory_source src = random_weights(c, 21, false);
    llama_model model(c, src);
    std::vector<int32_t> tokens = random_tokens(12 * 32, int32_t(c.vocab_size), 9);
    eval_options opt;
    opt.n_ctx = 32;
    opt.threads = 2;
    opt.save_base = true;
    opt.base_top_k = 8;
    opt.base_samples = 8;
    eval_result base = evaluate_perplexity(model, tokens, opt);
    const std::string path = temp_path("self.kld");
    write_kld_base(path, base.base);
    kld_base loaded = read_kld_base(path);
    fs::remove(path);
    CHECK(loaded.ids == base.base.ids);
    CHECK(loaded.sample_logp == base.base.sample_logp);

    eval_options cmp;
    cmp.n_ctx = 32;
    cmp.threads = 1;  // another thread count than the base run: still bit-identical
    cmp.compare = &loaded;
    eval_result r = evaluate_perplexity(model, tokens, cmp);
    REQUIRE(r.kld);
    CHECK(r.kld->mean == 0.0);
    CHECK(r.kld->max == 0.0);
    CHECK(r.kld->p99 == 0.0);
    CHECK(r.kld->top1 == 1.0);
    CHECK(r.kld->dlog_ppl == 0.0);
    CHECK(r.kld->base_ppl == Approx(r.ppl).epsilon(1e-6));

    SECTION("a base run on other tokens, windows or context is refused") {
        std::vector<int32_t> other = tokens;
        other[100] = (other[100] + 1) % int32_t(c.vocab_size);
        CHECK_THROWS_WITH(evaluate_perplexity(model, other, cmp), Catch::Contains("other tokens"));
        eval_options fewer = cmp;
        fewer.max_windows = 11;
        CHECK_THROWS_WITH(evaluate_perplexity(model, tokens, fewer), Catch::Contains("windows"));
        eval_options ctx = cmp;
        ctx.n_ctx = 16;
        CHECK_THROWS_WITH(evaluate_perplexity(model, tokens, ctx), Catch::Contains("n_ctx"));
        // the first token of a window is replaced by BOS, so changing it does not matter
        std::vector<int32_t> bos = tokens;
        bos[32] = 7;
        CHECK_NOTHROW(evaluate_perplexity(model, bos, cmp));
    }
}

TEST_CASE("eval: corrupted or inconsistent KL base files are rejected", "[eval]") {
    llama_config c = small_config(false, 6);
    memory_source src = random_weights(c, 31, true);
    llama_model model(c, src);
    eval_options opt;
    opt.n_ctx = 16;
    opt.save_base = true;
    opt.base_top_k = 4;
    opt.base_samples = 3;
    eval_result r = evaluate_perplexity(model, random_tokens(48, int32_t(c.vocab_size), 2), opt);
    const std::vector<uint8_t> good = serialize_kld_base(r.base);
    REQUIRE(good.size() == 72 + 3 * 8 * (8 + 8 * 4 + 8 * 3));
    CHECK_NOTHROW(parse_kld_base(good.data(), good.size(), "good"));

    auto expect = [](std::vector<uint8_t> bytes, const std::string& needle) {
        INFO("expected an error containing: " << needle);
        try {
            parse_kld_base(bytes.data(), bytes.size(), "bad.kld");
            FAIL("accepted");
        } catch (const qamw::error& e) {
            CHECK_THAT(e.what(), Catch::Contains(needle) && Catch::Contains("bad.kld"));
        }
    };
    auto rechecksum = [](std::vector<uint8_t>& b) {
        const uint64_t h = qamw::detail::fnv1a64(b.data() + 72, b.size() - 72);
        for (int i = 0; i < 8; ++i) b[std::size_t(64 + i)] = uint8_t(h >> (8 * i));
    };
    std::vector<uint8_t> b = good;
    b.resize(good.size() - 1);
    expect(b, "does not match its header");
    expect(std::vector<uint8_t>(good.begin(), good.begin() + 40), "truncated header");
    b = good;
    b.push_back(0);
    expect(b, "does not match its header");
    b = good;
    b[0] = 'X';
    expect(b, "bad magic");
    b = good;
    b[8] = 2;
    expect(b, "version 2");
    b = good;
    b[100] ^= 0x10;  // a payload bit
    expect(b, "checksum");
    b = good;
    b[40] = 4;  // windows 3 → 4 (size no longer matches)
    expect(b, "does not match its header");
    b = good;
    b[12] = 0;  // K = 0
    expect(b, "invalid K");
    b = good;
    b[48] = 9;  // scored per window ≠ n_ctx − n_ctx/2
    expect(b, "scored positions per window");
    b = good;
    b[72 + 8] = 200;  // first top id of position 0 → ≥ vocab, with a valid checksum
    b[72 + 9] = 0;
    b[72 + 10] = 0;
    b[72 + 11] = 0;
    rechecksum(b);
    expect(b, ">= vocab_size");
    b = good;
    std::memcpy(b.data() + 72 + 12, b.data() + 72 + 8, 4);  // second top id = first
    rechecksum(b);
    expect(b, "listed twice");
    b = good;
    std::swap_ranges(b.data() + 72 + 8 + 16, b.data() + 72 + 8 + 20, b.data() + 72 + 8 + 28);  // swap logp 0 and 3
    rechecksum(b);
    expect(b, "not descending");
    b = good;
    const float nan = std::nanf("");
    std::memcpy(b.data() + 72 + 4, &nan, 4);  // tail mass
    rechecksum(b);
    expect(b, "tail mass");

    const std::string path = temp_path("missing.kld");
    CHECK_THROWS_AS(read_kld_base(path), qamw::error);
}

TEST_CASE("eval: the KL estimate tracks the exact full-vocabulary KL (stories260K, 4-bit RTN)", "[eval][shared]") {
    require_shared({"models/stories260K/model.safetensors", "data/tokens/tinystories-valid.tok512.i32"});
    llama_checkpoint ck = llama_checkpoint::open(shared_dir + "/models/stories260K");
    checkpoint_source src(ck.ckpt);
    llama_model base(ck.config, src), quant(ck.config, src, rtn_factory(src, 4));
    std::vector<int32_t> tokens = read_tokens(shared_dir + "/data/tokens/tinystories-valid.tok512.i32");
    eval_options opt;
    opt.n_ctx = 256;
    opt.threads = 2;
    opt.save_base = true;
    eval_result rb = evaluate_perplexity(base, tokens, opt);
    eval_options cmp;
    cmp.n_ctx = 256;
    cmp.threads = 2;
    cmp.compare = &rb.base;
    eval_result rq = evaluate_perplexity(quant, tokens, cmp);
    REQUIRE(rq.kld);

    // exact KL, position by position
    const int64_t V = ck.config.vocab_size, n = 256;
    std::vector<double> exact;
    llama_workspace ws;
    std::vector<float> la(std::size_t(128 * V)), lq(la.size());
    for (int64_t w = 0; w < rq.windows; ++w) {
        std::vector<int32_t> t(tokens.begin() + w * n, tokens.begin() + (w + 1) * n);
        t[0] = 1;
        base.forward(t.data(), n, 127, 255, ws, la.data());
        quant.forward(t.data(), n, 127, 255, ws, lq.data());
        for (int64_t j = 0; j < 128; ++j) exact.push_back(exact_kl(la.data() + j * V, lq.data() + j * V, V));
    }
    REQUIRE(exact.size() == rq.kld->per_position.size());
    double mean_exact = 0, worst_below = 0;
    for (std::size_t p = 0; p < exact.size(); ++p) {
        mean_exact += exact[p] / double(exact.size());
        // the coarse part is a lower bound of the exact KL, and the estimate never goes below it
        worst_below = std::max(worst_below, rq.kld->per_position_lower[p] - exact[p]);
        CHECK(rq.kld->per_position[p] >= rq.kld->per_position_lower[p] - 1e-12);
    }
    CHECK(worst_below < 1e-6);
    std::vector<double> se = exact;
    std::sort(se.begin(), se.end());
    const double p99_exact = se[std::size_t(0.99 * double(se.size() - 1))];
    INFO("exact mean KL " << mean_exact << ", estimate " << rq.kld->mean << " ± " << rq.kld->se << ", lower bound "
                          << rq.kld->lower_bound << "; p99 exact " << p99_exact << ", estimate " << rq.kld->p99);
    CHECK(mean_exact > 0.01);  // the perturbation is large enough to test something
    CHECK(std::fabs(rq.kld->mean / mean_exact - 1) < 0.01);
    CHECK(std::fabs(rq.kld->p99 / p99_exact - 1) < 0.03);
    CHECK(rq.kld->top1 < 1.0);
    CHECK(rq.kld->top1 > 0.5);
}

TEST_CASE("eval: on house-a the tail samples are needed (top-K alone underestimates KL)", "[eval][shared][slow]") {
    require_shared({"models/house-a/model.safetensors", "data/tokens/heldout-gutenberg.llama2sp.i32"});
    llama_checkpoint ck = llama_checkpoint::open(shared_dir + "/models/house-a");
    checkpoint_source src(ck.ckpt);
    llama_model base(ck.config, src), quant(ck.config, src, rtn_factory(src, 5));
    std::vector<int32_t> tokens = read_tokens(shared_dir + "/data/tokens/heldout-gutenberg.llama2sp.i32");
    eval_options opt;
    opt.n_ctx = 512;
    opt.max_windows = 2;
    opt.threads = 2;
    opt.save_base = true;
    eval_result rb = evaluate_perplexity(base, tokens, opt);
    eval_options cmp = opt;
    cmp.save_base = false;
    cmp.compare = &rb.base;
    eval_result rq = evaluate_perplexity(quant, tokens, cmp);
    REQUIRE(rq.kld);
    const int64_t V = ck.config.vocab_size, n = 512;
    double exact = 0;
    llama_workspace ws;
    std::vector<float> la(std::size_t(256 * V)), lq(la.size());
    for (int64_t w = 0; w < 2; ++w) {
        std::vector<int32_t> t(tokens.begin() + w * n, tokens.begin() + (w + 1) * n);
        t[0] = 1;
        base.forward(t.data(), n, 255, 511, ws, la.data());
        quant.forward(t.data(), n, 255, 511, ws, lq.data());
        for (int64_t j = 0; j < 256; ++j) exact += exact_kl(la.data() + j * V, lq.data() + j * V, V) / (2 * 256);
    }
    INFO("exact mean KL " << exact << ", estimate " << rq.kld->mean << " ± " << rq.kld->se << ", top-32 lower bound "
                          << rq.kld->lower_bound << ", mean base tail mass " << rq.kld->base_tail_mean);
    CHECK(rq.kld->lower_bound < 0.85 * exact);            // top-32 alone misses the tail (measured: 0.74×)
    CHECK(std::fabs(rq.kld->mean / exact - 1) < 0.03);    // 512 positions: sampling noise ≈ 0.5 %
}

// ---- activation statistics -----------------------------------------------------------------------------------------------

namespace {

std::string file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Σ x xᵀ in double per input group over the windows of a plain forward pass: the first member of a group seen in
/// each window (as the collector keeps it), and the number of rows.
struct direct_moments {
    std::map<std::string, std::vector<double>> sum;
    std::map<std::string, int64_t> rows;
    std::set<std::string> seen_in_window;
    input_observer observer() {
        return [this](const std::string& name, const float* x, int64_t m, int64_t in) {
            const std::string key = qamw::tools::awq_group_key(name);
            if (!seen_in_window.insert(key).second) return;
            std::vector<double>& d = sum[key];
            d.resize(std::size_t(in * in));
            for (int64_t t = 0; t < m; ++t)
                for (int64_t i = 0; i < in; ++i)
                    for (int64_t j = 0; j < in; ++j)
                        d[std::size_t(i * in + j)] += double(x[t * in + i]) * x[t * in + j];
            rows[key] += m;
        };
    }
};

/// Checks every second moment of the statistics file `path` against `direct` (f32 Grams per window against double).
void check_moments(const std::string& path, const direct_moments& direct) {
    const second_moment_file f = second_moment_file::open(path);
    REQUIRE(f.count() == direct.sum.size());
    for (const auto& [key, d] : direct.sum) {
        CAPTURE(key);
        const auto n = std::size_t(std::lround(std::sqrt(double(d.size()))));
        const std::vector<float> m = f.load(key, int64_t(n));
        const double T = double(direct.rows.at(key));
        CHECK(*qamw::io::safetensors_file::open(path).find_metadata(key + ".second_moment.tokens") ==
              std::to_string(direct.rows.at(key)));
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j)
                CHECK(std::fabs(m[i * n + j] - d[i * n + j] / T) <=
                      1e-5 * std::sqrt(d[i * n + i] * d[j * n + j]) / T + 1e-12);
    }
}

}  // namespace

TEST_CASE("eval: activation statistics equal a direct computation and survive a file round trip", "[eval]") {
    llama_config c = small_config(true, 6);
    memory_source src = random_weights(c, 41, false);
    act_stats_collector collector;
    llama_model model(c, src, observe_inputs(dense_factory(src), collector.observer()));
    std::vector<int32_t> tokens = random_tokens(5 * 24 + 3, int32_t(c.vocab_size), 4);
    qamw::test::temp_dir dir;
    const act_stats_summary r1 = collector.collect(model, tokens, 24, 0, 1, dir / "s1.st");
    collector.collect(model, tokens, 24, 0, 2, dir / "s2.st");
    CHECK(file_bytes(dir / "s1.st") == file_bytes(dir / "s2.st"));  // thread count: bit-identical
    CHECK(r1.windows == 5);
    CHECK(r1.layers == std::size_t(7 * c.num_hidden_layers + 1));
    CHECK(r1.moments == 0);
    act_stats s1 = read_act_stats(dir / "s1.st");
    REQUIRE(s1.layers.size() == std::size_t(7 * c.num_hidden_layers + 1));
    CHECK(s1.windows == 5);
    CHECK(s1.n_ctx == 24);
    for (const auto& [name, st] : s1.layers) CHECK(st.tokens == 5 * 24);
    CHECK(s1.layers.front().first == "model.layers.0.self_attn.q_proj.weight");
    CHECK(s1.layers.back().first == "model.embed_tokens.weight");
    CHECK(s1.find("model.layers.1.mlp.down_proj.weight") != nullptr);

    // direct: the naive forward pass shows every linear input; accumulate the same statistics
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> direct;
    for (int64_t w = 0; w < 5; ++w) {
        std::vector<int32_t> t(tokens.begin() + w * 24, tokens.begin() + (w + 1) * 24);
        t[0] = 1;
        naive_forward(c, src, t, [&](const std::string& name, const std::vector<std::vector<double>>& x) {
            auto& d = direct[name];
            d.first.resize(x[0].size());
            d.second.resize(x[0].size());
            for (const auto& r : x)
                for (std::size_t j = 0; j < r.size(); ++j) d.first[j] += std::fabs(r[j]) / 120, d.second[j] += r[j] * r[j] / 120;
        });
    }
    REQUIRE(direct.size() == s1.layers.size());
    for (const auto& [name, st] : s1.layers) {
        const auto& d = direct.at(name);
        for (std::size_t j = 0; j < st.mean_abs.size(); ++j) {
            CHECK(st.mean_abs[j] == Approx(d.first[j]).epsilon(1e-4));
            CHECK(st.mean_sq[j] == Approx(d.second[j]).epsilon(1e-4));
        }
    }

    // write_act_stats of what was read writes the same bytes as the collector's streaming writer
    const std::string path = dir / "copy.st";
    write_act_stats(path, s1);
    CHECK(file_bytes(path) == file_bytes(dir / "s1.st"));

    SECTION("invalid statistics files are rejected") {
        auto write_raw = [&](const std::string& format, float abs0, float sq0, bool with_tokens) {
            qamw::io::safetensors_writer w(path);
            w.set_metadata("format", format);
            w.set_metadata("version", "1");
            if (with_tokens) w.set_metadata("x.weight.tokens", "10");
            w.add("x.weight.mean_abs", qamw::io::dtype::f32, {2});
            w.add("x.weight.mean_sq", qamw::io::dtype::f32, {2});
            w.begin();
            float a[2] = {abs0, 1}, q[2] = {sq0, 1};
            w.write("x.weight.mean_abs", a, 8);
            w.write("x.weight.mean_sq", q, 8);
            w.commit();
        };
        write_raw("qamw-act-stats", 1, 2, true);
        CHECK_NOTHROW(read_act_stats(path));
        write_raw("something-else", 1, 2, true);
        CHECK_THROWS_WITH(read_act_stats(path), Catch::Contains("qamw-act-stats"));
        write_raw("qamw-act-stats", 2, 1, true);  // mean_abs² > mean_sq
        CHECK_THROWS_WITH(read_act_stats(path), Catch::Contains("impossible"));
        write_raw("qamw-act-stats", -1, 2, true);
        CHECK_THROWS_WITH(read_act_stats(path), Catch::Contains("negative"));
        write_raw("qamw-act-stats", 1, 2, false);
        CHECK_THROWS_WITH(read_act_stats(path), Catch::Contains("x.weight.tokens"));
    }
}

TEST_CASE("eval: second moments E[x xT] per input group equal a direct computation, the same bytes for every thread "
          "count", "[eval]") {
    for (const bool tied : {true, false}) {
        CAPTURE(tied);
        llama_config c = small_config(tied, 6);
        memory_source src = random_weights(c, 43, !tied);
        act_stats_collector collector(true);
        llama_model model(c, src, observe_inputs(dense_factory(src), collector.observer()));
        const int64_t n = 20, windows = 4;
        std::vector<int32_t> tokens = random_tokens(std::size_t(n * windows), int32_t(c.vocab_size), 7);
        // direct: the plain forward pass of every window
        direct_moments direct;
        llama_model plain(c, src, observe_inputs(dense_factory(src), direct.observer()));
        llama_workspace ws;
        std::vector<float> logits(std::size_t(n * c.vocab_size));
        for (int64_t w = 0; w < windows; ++w) {
            std::vector<int32_t> t(tokens.begin() + w * n, tokens.begin() + (w + 1) * n);
            t[0] = c.bos_token_id;
            direct.seen_in_window.clear();
            plain.forward(t.data(), n, 0, n, ws, logits.data());
        }
        qamw::test::temp_dir dir;
        const act_stats_summary r = collector.collect(model, tokens, n, 0, 1, dir / "s1.st");
        collector.collect(model, tokens, n, 0, 3, dir / "s3.st");
        CHECK(file_bytes(dir / "s1.st") == file_bytes(dir / "s3.st"));  // bit-identical for 1 and 3 threads
        CHECK(r.moments == std::size_t(4 * c.num_hidden_layers + 1));
        const std::string lm = tied ? "model.embed_tokens.weight" : "lm_head.weight";
        REQUIRE(direct.sum.size() == r.moments);
        REQUIRE(direct.sum.count(lm));
        check_moments(dir / "s1.st", direct);
        // written after the per-channel tensors, in model order (lm_head last)
        const auto f = qamw::io::safetensors_file::open(dir / "s1.st");
        const std::size_t first = std::size_t(2 * (7 * c.num_hidden_layers + 1));
        REQUIRE(f.tensors().size() == first + r.moments);
        std::vector<const qamw::io::tensor_info*> by_offset;
        for (const auto& t : f.tensors()) by_offset.push_back(&t);
        std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
        CHECK(by_offset[first - 1]->name == lm + ".mean_sq");
        CHECK(by_offset[first]->name == "model.layers.0.self_attn.qkv.second_moment");
        CHECK(by_offset.back()->name == lm + ".second_moment");
        CHECK(dir.entries().size() == 2);  // no scratch file left
    }
}

TEST_CASE("eval: layer-by-layer statistics of stories260K equal E[x xT] of the plain forward pass", "[eval]") {
    const std::string m = std::string(QAMW_SOURCE_DIR) + "/examples/data/stories260K";
    llama_checkpoint ck = llama_checkpoint::open(m);
    checkpoint_source src(ck.ckpt);
    act_stats_collector collector(true);
    llama_model model(ck.config, src, observe_inputs(dense_factory(src), collector.observer()));
    direct_moments direct;
    llama_model plain(ck.config, src, observe_inputs(dense_factory(src), direct.observer()));
    const int64_t n = 64, windows = 3;
    std::vector<int32_t> tokens = random_tokens(std::size_t(n * windows), int32_t(ck.config.vocab_size), 11);
    llama_workspace ws;
    std::vector<float> logits(std::size_t(n * ck.config.vocab_size));
    for (int64_t w = 0; w < windows; ++w) {
        std::vector<int32_t> t(tokens.begin() + w * n, tokens.begin() + (w + 1) * n);
        t[0] = ck.config.bos_token_id;
        direct.seen_in_window.clear();
        plain.forward(t.data(), n, 0, n, ws, logits.data());
    }
    qamw::test::temp_dir dir;
    collector.collect(model, tokens, n, 0, 2, dir / "s.st");
    REQUIRE(direct.sum.size() == std::size_t(4 * ck.config.num_hidden_layers + 1));
    check_moments(dir / "s.st", direct);
    // per-channel mean x² is the diagonal of E[x xᵀ] (the same rows, f64 sums against f32 Grams)
    const act_stats s = read_act_stats(dir / "s.st");
    const second_moment_file f = second_moment_file::open(dir / "s.st");
    const std::string down = "model.layers.4.mlp.down_proj.weight";
    const std::vector<float> md = f.load(down, ck.config.intermediate_size);
    for (int64_t j = 0; j < ck.config.intermediate_size; ++j)
        CHECK(s.find(down)->mean_sq[std::size_t(j)] ==
              Approx(md[std::size_t(j * ck.config.intermediate_size + j)]).epsilon(1e-5));
}

TEST_CASE("eval: statistics leave no file behind: missing directory, full disk, truncated scratch file, success",
          "[eval]") {
    llama_config c = small_config(true, 6);
    memory_source src = random_weights(c, 45, false);
    act_stats_collector collector(true);
    llama_model model(c, src, observe_inputs(dense_factory(src), collector.observer()));
    std::vector<int32_t> tokens = random_tokens(5 * 24, int32_t(c.vocab_size), 5);
    qamw::test::temp_dir dir;
    const int live = qamw::tools::temp_registry::live();

    SECTION("success: only the output remains, nothing stays registered") {
        collector.collect(model, tokens, 24, 0, 2, dir / "out.st");
        CHECK(dir.entries() == std::vector<std::string>{"out.st"});
    }
    SECTION("the output's directory does not exist") {
        const std::string out = dir / "no/such/dir/out.st";
        try {
            collector.collect(model, tokens, 24, 0, 2, out);
            FAIL("no error");
        } catch (const qamw::error& e) {
            CHECK(e.code() == qamw::errc::io);
            CHECK_THAT(e.what(), Catch::Contains(out) && Catch::Contains("No such file or directory"));
        }
        CHECK(dir.entries().empty());
    }
    SECTION("a full disk while the hidden states are written (file size limit below their 11,520 bytes)") {
        std::string msg;
        {
            qamw::test::fsize_limit limit(8192);
            try {
                collector.collect(model, tokens, 24, 0, 2, dir / "out.st");
            } catch (const qamw::error& e) {
                msg = e.what();
                CHECK(e.code() == qamw::errc::io);
            }
        }
        CHECK_THAT(msg, Catch::Contains(dir / "out.st.tmp-hidden-") && Catch::Contains("File too large"));
        CHECK(dir.entries().empty());
    }
    SECTION("the scratch file: positional round trip, a truncated file, an unwritable place, removal") {
        std::string path;
        {
            const qamw::tools::scratch_file f(dir / "x.tmp-s-");
            path = f.path();
            CHECK(path.rfind(dir / "x.tmp-s-", 0) == 0);
            CHECK(qamw::tools::temp_registry::live() == live + 1);  // a signal would remove it
            const std::string a = "0123456789", b = "abcdef";
            f.write_at(100, b.data(), b.size());
            f.write_at(0, a.data(), a.size());
            std::string back(6, '?');
            f.read_at(100, back.data(), 6);
            CHECK(back == b);
            fs::resize_file(path, 103);
            try {
                f.read_at(100, back.data(), 6);
                FAIL("no error");
            } catch (const qamw::error& e) {
                CHECK(e.code() == qamw::errc::io);
                CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("truncated"));
            }
        }
        CHECK_FALSE(fs::exists(path));
        CHECK_THROWS_WITH(qamw::tools::scratch_file(dir / "missing/x-"),
                          Catch::Contains(dir / "missing/x-XXXXXX") && Catch::Contains("No such file or directory"));
        CHECK(dir.entries().empty());
    }
    CHECK(qamw::tools::temp_registry::live() == live);
}
