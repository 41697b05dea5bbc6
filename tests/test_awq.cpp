// AWQ scale search and imatrix reader tests: the search on a synthetic layer with outlier input channels, α = 0 as
// plain encoding, determinism, group keys; llama.cpp legacy imatrix files written byte by byte (valid, truncated at
// every length, hostile counts and values) and their conversion to per-channel statistics.
#include "common/awq.hpp"
#include "common/imatrix.hpp"
#include "common/random.hpp"

#include <qamw/codec.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace qamw;
using namespace qamw::tools;

namespace {

/// A q/k/v-like group reading one input of `cols` channels; channel statistics with outliers at 10–100×.
struct layer {
    std::int64_t cols = 512;
    std::vector<std::int64_t> rows = {512, 256, 256};
    std::vector<std::vector<float>> w;
    std::vector<float> mean_abs, mean_sq;

    explicit layer(bool outliers) {
        for (std::size_t m = 0; m < rows.size(); ++m) w.push_back(gaussian_vector(100 + m, rows[m] * cols, 0.02));
        mean_abs.assign(cols, 0.0f);
        rng r(7);
        for (auto& a : mean_abs) a = float(0.5 + r.uniform());  // ordinary channels: 0.5 … 1.5
        if (outliers) {
            const float big[] = {10, 20, 30, 50, 70, 100};
            for (int i = 0; i < 6; ++i) mean_abs[std::size_t(37 + 71 * i)] = big[i];
        }
        for (std::size_t j = 0; j < mean_abs.size(); ++j) mean_sq.push_back(float(mean_abs[j] * mean_abs[j] * pi / 2));
    }
    std::vector<const float*> ptrs() const {
        std::vector<const float*> p;
        for (const auto& m : w) p.push_back(m.data());
        return p;
    }
    static constexpr double pi = 3.14159265358979323846;
};

params codec(int bits) {
    params p;
    p.bits = bits;
    return p;
}

}  // namespace

TEST_CASE("awq: with outlier input channels the search picks α > 0 and cuts the output-error proxy",
          "[awq][quality]") {
    layer L(true);
    for (int k : {7, 11}) {
        awq_result r = awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, codec(k), 2);
        std::string curve;
        for (auto& [a, e] : r.curve)
            curve += " " + std::to_string(a).substr(0, 4) + ":" + std::to_string(e / r.err_plain);
        INFO("k=" << k << " best α " << r.alpha << " err " << r.err_best << " plain " << r.err_plain << "; curve"
                  << curve);
        REQUIRE(r.curve.size() == 21);
        CHECK(r.curve[0].first == 0.0);
        CHECK(r.curve[20].first == 1.0);
        CHECK(r.alpha > 0);
        CHECK(r.err_best < 0.5 * r.err_plain);
        REQUIRE(r.scales.size() == std::size_t(L.cols));
        for (std::size_t i = 0; i < r.curve.size(); ++i)
            if (r.curve[i].first == r.alpha) CHECK(r.curve[i].second == r.err_best);
        for (auto& c : r.curve) CHECK(c.second >= r.err_best);
        // The returned scales, used for the real codec, give exactly err_best.
        double e = 0;
        for (std::size_t m = 0; m < L.w.size(); ++m)
            e += awq_matrix_error(encode(L.w[m].data(), L.rows[m], L.cols, codec(k), r.scales.data()), L.w[m].data(),
                                  L.mean_sq, 1);
        CHECK(e == r.err_best);
        WARN("AWQ on the outlier layer, k=" << k << ": best α = " << r.alpha << ", proxy error "
                                            << r.err_best / r.err_plain << " × plain");
    }
}

TEST_CASE("awq: α = 0 is plain encoding, bit for bit; uniform statistics keep α = 0", "[awq]") {
    layer L(false);
    const params p = codec(9);
    awq_result r = awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, p, 2);
    double plain = 0;
    for (std::size_t m = 0; m < L.w.size(); ++m) {
        quantized_tensor q = encode(L.w[m].data(), L.rows[m], L.cols, p);
        CHECK(q.col_scales.empty());
        plain += awq_matrix_error(q, L.w[m].data(), L.mean_sq, 1);
    }
    CHECK(r.err_plain == plain);
    CHECK(r.curve[0].second == plain);

    // All channels alike: every α gives s = 1 exactly, the same codes, the same error, and the tie goes to α = 0.
    std::vector<float> flat_abs(std::size_t(L.cols), 0.8f), flat_sq(std::size_t(L.cols), 1.0f);
    awq_result f = awq_search(L.ptrs(), L.rows, L.cols, flat_abs, flat_sq, p, 2);
    CHECK(f.alpha == 0);
    CHECK(f.scales.empty());
    CHECK(f.err_best == f.err_plain);
    for (auto& c : f.curve) CHECK(c.second == f.err_plain);
    for (float s : awq_scales(flat_abs, 0.65)) CHECK(s == 1.0f);

    // No activation at all: only α = 0 is evaluated.
    std::vector<float> zeros(std::size_t(L.cols), 0.0f);
    awq_result z = awq_search(L.ptrs(), L.rows, L.cols, zeros, zeros, p, 2);
    CHECK(z.curve.size() == 1);
    CHECK(z.alpha == 0);
    CHECK(z.err_plain == 0);
}

TEST_CASE("awq: scales are centred, clamped to the f16 normal range, and zero channels are guarded", "[awq]") {
    std::vector<float> a = {1.0f, 4.0f, 16.0f, 0.0f, 1e30f};
    for (double alpha : {0.0, 0.5, 1.0}) {
        auto s = awq_scales(a, alpha);
        for (float v : s) CHECK((v >= 0x1p-14f && v <= 65504.0f));
        if (alpha == 0) {
            for (float v : s) CHECK(v == 1.0f);
        }
    }
    auto s = awq_scales({1.0f, 4.0f, 16.0f}, 0.5);
    CHECK(s[0] == Approx(0.5));  // 1^½ / √(1·4) …
    CHECK(s[1] == Approx(1.0));
    CHECK(s[2] == Approx(2.0));
    CHECK(s[0] * s[2] == Approx(1.0));  // geometric centre 1
    auto z = awq_scales({0.0f, 1.0f}, 1.0);  // 0 → 1e−8 · max; centre √(1e−8) → s = 1e−4, 1e4
    CHECK(z[0] == Approx(1e-4).epsilon(1e-4));
    CHECK(z[1] == Approx(1e4).epsilon(1e-4));
}

TEST_CASE("awq: the same result for every thread count; bad input is rejected", "[awq]") {
    layer L(true);
    awq_result a = awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, codec(8), 1);
    awq_result b = awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, codec(8), 3);
    CHECK(a.curve == b.curve);
    CHECK(a.scales == b.scales);
    CHECK(a.alpha == b.alpha);

    auto bad_abs = L.mean_abs;
    bad_abs[3] = NAN;
    CHECK_THROWS_AS(awq_search(L.ptrs(), L.rows, L.cols, bad_abs, L.mean_sq, codec(8), 1), qamw::error);
    auto neg = L.mean_sq;
    neg[5] = -1;
    CHECK_THROWS_AS(awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, neg, codec(8), 1), qamw::error);
    auto short_sq = L.mean_sq;
    short_sq.pop_back();
    CHECK_THROWS_AS(awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, short_sq, codec(8), 1), qamw::error);
    CHECK_THROWS_AS(awq_search({}, {}, L.cols, L.mean_abs, L.mean_sq, codec(8), 1), qamw::error);
    CHECK_THROWS_AS(awq_search(L.ptrs(), {512, 256}, L.cols, L.mean_abs, L.mean_sq, codec(8), 1), qamw::error);
    CHECK_THROWS_AS(awq_search({nullptr}, {4}, L.cols, L.mean_abs, L.mean_sq, codec(8), 1), qamw::error);
}

TEST_CASE("awq: members of a group coded at different k are searched at their own k", "[awq]") {
    layer L(true);
    const std::vector<params> mixed = {codec(6), codec(9), codec(7)};
    awq_result r = awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, mixed, 2);
    REQUIRE(r.curve.size() == 21);
    for (std::size_t i : {std::size_t(0), std::size_t(7), std::size_t(20)}) {  // err(α) = Σ_m the error of member m at its k
        const std::vector<float> s = awq_scales(L.mean_abs, r.curve[i].first);
        double e = 0;
        for (std::size_t m = 0; m < L.w.size(); ++m)
            e += awq_matrix_error(encode(L.w[m].data(), L.rows[m], L.cols, mixed[m], i ? s.data() : nullptr), L.w[m].data(),
                                  L.mean_sq, 1);
        CHECK(e == r.curve[i].second);
    }
    // the mixed search is not the search with every member at one k
    CHECK(awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, codec(7), 2).curve != r.curve);
    CHECK_THROWS_AS(awq_search(L.ptrs(), L.rows, L.cols, L.mean_abs, L.mean_sq, std::vector<params>(2, codec(7)), 1),
                    qamw::error);
}

TEST_CASE("awq_group_key: q/k/v and gate/up share a key, everything else is alone", "[awq]") {
    CHECK(awq_group_key("model.layers.3.self_attn.q_proj.weight") == "model.layers.3.self_attn.qkv");
    CHECK(awq_group_key("model.layers.3.self_attn.k_proj.weight") == "model.layers.3.self_attn.qkv");
    CHECK(awq_group_key("model.layers.3.self_attn.v_proj.weight") == "model.layers.3.self_attn.qkv");
    CHECK(awq_group_key("model.layers.3.self_attn.o_proj.weight") == "model.layers.3.self_attn.o_proj.weight");
    CHECK(awq_group_key("model.layers.12.mlp.gate_proj.weight") == "model.layers.12.mlp.gate_up");
    CHECK(awq_group_key("model.layers.12.mlp.up_proj.weight") == "model.layers.12.mlp.gate_up");
    CHECK(awq_group_key("model.layers.12.mlp.down_proj.weight") == "model.layers.12.mlp.down_proj.weight");
    CHECK(awq_group_key("lm_head.weight") == "lm_head.weight");
    CHECK(awq_group_key("model.layers.3.self_attn.q_proj.bias") == "model.layers.3.self_attn.q_proj.bias");
    CHECK(awq_group_key("q_proj.weight") == "qkv");
    CHECK(awq_group_key("model.layers.3.self_attn.xq_proj.weight") == "model.layers.3.self_attn.xq_proj.weight");
    CHECK(awq_group_key("model.layers.3.self_attn.q_proj.weight") !=
          awq_group_key("model.layers.4.self_attn.q_proj.weight"));
}

// ---- llama.cpp legacy imatrix ----

namespace {

struct bytes {
    std::vector<std::uint8_t> b;
    bytes& i32(std::int32_t v) {
        std::uint32_t u;
        std::memcpy(&u, &v, 4);
        for (int k = 0; k < 4; ++k) b.push_back(std::uint8_t(u >> (8 * k)));
        return *this;
    }
    bytes& f32(float v) {
        std::int32_t i;
        std::memcpy(&i, &v, 4);
        return i32(i);
    }
    bytes& str(const std::string& s) {
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    bytes& entry(const std::string& name, std::int32_t ncall, const std::vector<float>& v) {
        i32(std::int32_t(name.size())).str(name).i32(ncall).i32(std::int32_t(v.size()));
        for (float x : v) f32(x);
        return *this;
    }
};

std::string write_temp(const std::vector<std::uint8_t>& b, const std::string& tag) {
    auto path = std::filesystem::temp_directory_path() / ("qamw_test_imatrix_" + tag + ".dat");
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    return path.string();
}

errc parse_error(const std::vector<std::uint8_t>& b, std::string* msg = nullptr) {
    try {
        parse_imatrix(b.data(), b.size(), "x.dat");
    } catch (const qamw::error& e) {
        if (msg) *msg = e.what();
        return e.code();
    }
    FAIL("parsed without error");
    return errc::io;
}

std::int64_t model_cols(const std::string& hf) {
    if (hf.find("down_proj") != std::string::npos) return 6;
    if (hf.find("model.layers.0.") == 0 || hf.find("model.layers.1.") == 0) return 4;
    return -1;
}

}  // namespace

TEST_CASE("imatrix: a valid file, with and without its trailer, converts to E[x²] and √E[x²]", "[imatrix]") {
    bytes f;
    f.i32(3)
        .entry("blk.0.attn_k.weight", 10, {10, 20, 0, 40})
        .entry("blk.0.ffn_down.weight", 5, {5, 5, 5, 5, 5, 2.5f})
        .entry("blk.1.attn_q.weight", 1, {1, 4, 9, 16});
    const std::size_t end_entries = f.b.size();
    f.i32(123).i32(19).str("calib-gutenberg.txt");
    const std::string path = write_temp(f.b, "valid");
    imatrix_data d = read_imatrix(path);
    REQUIRE(d.entries.size() == 3);
    CHECK(d.entries[0].name == "blk.0.attn_k.weight");
    CHECK(d.entries[1].ncall == 5);
    CHECK(d.entries[2].values == std::vector<float>{1, 4, 9, 16});
    CHECK(d.last_chunk == 123);
    CHECK(d.dataset == "calib-gutenberg.txt");
    auto stats = imatrix_to_stats(d, path, model_cols);
    REQUIRE(stats.size() == 3);
    CHECK(stats[0].weight == "model.layers.0.self_attn.k_proj.weight");
    CHECK(stats[0].mean_sq == std::vector<float>{1, 2, 0, 4});
    CHECK(stats[0].mean_abs[3] == 2.0f);
    CHECK(stats[0].mean_abs[2] == 0.0f);
    CHECK(stats[0].chunks == 10);
    CHECK(stats[1].weight == "model.layers.0.mlp.down_proj.weight");
    CHECK(stats[1].mean_sq[5] == 0.5f);
    CHECK(stats[2].weight == "model.layers.1.self_attn.q_proj.weight");
    CHECK(stats[2].mean_abs == std::vector<float>{1, 2, 3, 4});
    std::remove(path.c_str());

    // The older layouts: no trailer, or the chunk count alone.
    std::vector<std::uint8_t> bare(f.b.begin(), f.b.begin() + std::ptrdiff_t(end_entries));
    imatrix_data b = parse_imatrix(bare.data(), bare.size(), "bare.dat");
    CHECK(b.entries.size() == 3);
    CHECK(b.last_chunk == -1);
    CHECK(b.dataset.empty());
    std::vector<std::uint8_t> chunks(f.b.begin(), f.b.begin() + std::ptrdiff_t(end_entries + 4));
    CHECK(parse_imatrix(chunks.data(), chunks.size(), "c.dat").last_chunk == 123);

    // Every other prefix is a truncated file: a format error naming the file.
    for (std::size_t n = 0; n < f.b.size(); ++n) {
        if (n == end_entries || n == end_entries + 4) continue;
        std::vector<std::uint8_t> cut(f.b.begin(), f.b.begin() + std::ptrdiff_t(n));
        std::string msg;
        INFO("prefix of " << n << " bytes");
        CHECK(parse_error(cut, &msg) == errc::format);
        CHECK(msg.find("x.dat") != std::string::npos);
    }
    CHECK_THROWS_AS(read_imatrix("/nonexistent/imatrix.dat"), qamw::error);
    try {
        read_imatrix("/nonexistent/imatrix.dat");
    } catch (const qamw::error& e) {
        CHECK(e.code() == errc::io);
    }
}

TEST_CASE("imatrix: hostile counts and values are format errors naming the entry", "[imatrix]") {
    auto one = [](const std::string& name, std::int32_t ncall, const std::vector<float>& v) {
        bytes f;
        f.i32(1).entry(name, ncall, v);
        return f;
    };
    std::string msg;
    for (std::int32_t n : {0, -1, 2, 1000, 0x7fffffff}) {
        bytes f;
        f.i32(n).entry("blk.0.attn_q.weight", 1, {1, 2, 3, 4});
        INFO("entry count " << n);
        CHECK(parse_error(f.b) == errc::format);
    }
    for (std::int32_t len : {0, -5, 4097, 0x7fffffff}) {
        bytes f;
        f.i32(1).i32(len).str(std::string(20, 'a')).i32(1).i32(1).f32(1);
        INFO("name length " << len);
        CHECK(parse_error(f.b, &msg) == errc::format);
        CHECK(msg.find("entry 0") != std::string::npos);
    }
    {
        bytes f;  // a 4096-byte name is allowed
        f.i32(1).entry(std::string(4096, 'n'), 1, {1});
        CHECK(parse_imatrix(f.b.data(), f.b.size(), "long.dat").entries[0].name.size() == 4096);
    }
    for (std::int32_t ncall : {0, -3}) {
        INFO("ncall " << ncall);
        CHECK(parse_error(one("blk.0.attn_q.weight", ncall, {1, 2}).b, &msg) == errc::format);
        CHECK(msg.find("blk.0.attn_q.weight") != std::string::npos);
    }
    for (std::int32_t nval : {0, -1, 5, 0x7fffffff}) {  // 5: more than the 4 values present
        bytes f;
        f.i32(1).i32(3).str("abc").i32(1).i32(nval).f32(1).f32(2).f32(3).f32(4);
        INFO("nval " << nval);
        CHECK(parse_error(f.b, &msg) == errc::format);
        CHECK(msg.find("'abc'") != std::string::npos);
    }
    for (float v : {NAN, -1.0f, INFINITY, -0.5f}) {
        INFO("value " << v);
        CHECK(parse_error(one("blk.2.ffn_up.weight", 2, {1, v, 3}).b, &msg) == errc::format);
        CHECK(msg.find("value 1") != std::string::npos);
        CHECK(msg.find("blk.2.ffn_up.weight") != std::string::npos);
    }
    {
        bytes f;  // duplicate names
        f.i32(2).entry("blk.0.attn_q.weight", 1, {1}).entry("blk.0.attn_q.weight", 1, {1});
        CHECK(parse_error(f.b, &msg) == errc::format);
        CHECK(msg.find("duplicate") != std::string::npos);
    }
    {
        bytes f;  // NUL inside the name
        f.i32(1).entry(std::string("blk.0\0x", 7), 1, {1});
        CHECK(parse_error(f.b) == errc::format);
    }
    {
        bytes f = one("blk.0.attn_q.weight", 1, {1});  // bad trailers
        bytes neg = f, extra = f, len = f;
        neg.i32(-1);
        CHECK(parse_error(neg.b) == errc::format);
        extra.i32(3).i32(2).str("ab").str("zz");
        CHECK(parse_error(extra.b) == errc::format);
        len.i32(3).i32(-2);
        CHECK(parse_error(len.b) == errc::format);
        bytes odd = f;
        odd.b.push_back(0);
        CHECK(parse_error(odd.b) == errc::format);
    }
    {
        bytes g;
        g.str("GGUF").i32(3).i32(0).i32(0);
        CHECK(parse_error(g.b, &msg) == errc::unsupported);
        CHECK(msg.find("--output-format dat") != std::string::npos);
    }
}

TEST_CASE("imatrix: conversion checks names and widths against the model", "[imatrix]") {
    auto conv = [](const std::string& name, std::size_t n) {
        imatrix_data d;
        d.entries.push_back({name, 2, std::vector<float>(n, 1.0f)});
        return imatrix_to_stats(d, "m.dat", model_cols);
    };
    CHECK(conv("blk.1.ffn_gate.weight", 4)[0].weight == "model.layers.1.mlp.gate_proj.weight");
    try {
        conv("blk.1.ffn_gate.weight", 5);
        FAIL("accepted");
    } catch (const qamw::error& e) {
        CHECK(e.code() == errc::format);
        CHECK(std::string(e.what()).find("nval 5") != std::string::npos);
        CHECK(std::string(e.what()).find("m.dat: entry 0 ('blk.1.ffn_gate.weight')") != std::string::npos);
    }
    try {
        conv("blk.7.attn_v.weight", 4);  // the model has no layer 7
        FAIL("accepted");
    } catch (const qamw::error& e) {
        CHECK(e.code() == errc::format);
    }
    try {
        conv("blk.0.ffn_gate_exps.weight", 4);
        FAIL("accepted");
    } catch (const qamw::error& e) {
        CHECK(e.code() == errc::unsupported);
    }
}

TEST_CASE("imatrix: llama.cpp names map to Hugging Face names", "[imatrix]") {
    CHECK(llama_to_hf_name("blk.0.attn_q.weight") == "model.layers.0.self_attn.q_proj.weight");
    CHECK(llama_to_hf_name("blk.12.attn_k.weight") == "model.layers.12.self_attn.k_proj.weight");
    CHECK(llama_to_hf_name("blk.3.attn_v.weight") == "model.layers.3.self_attn.v_proj.weight");
    CHECK(llama_to_hf_name("blk.3.attn_output.weight") == "model.layers.3.self_attn.o_proj.weight");
    CHECK(llama_to_hf_name("blk.3.ffn_gate.weight") == "model.layers.3.mlp.gate_proj.weight");
    CHECK(llama_to_hf_name("blk.3.ffn_up.weight") == "model.layers.3.mlp.up_proj.weight");
    CHECK(llama_to_hf_name("blk.31.ffn_down.weight") == "model.layers.31.mlp.down_proj.weight");
    CHECK(llama_to_hf_name("output.weight") == "lm_head.weight");
    for (const char* bad : {"blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk..attn_q.weight", "blk.0.attn_q.bias",
                            "blk.0.attn_qkv.weight", "token_embd.weight", "blk.0.ffn_gate_exps.weight", "blk.0.weight",
                            "blk.0.attn_q", ""})
        CHECK(llama_to_hf_name(bad).empty());
    // The group keys of the mapped names follow the AWQ grouping.
    CHECK(awq_group_key(llama_to_hf_name("blk.2.attn_v.weight")) == "model.layers.2.self_attn.qkv");
    CHECK(awq_group_key(llama_to_hf_name("blk.2.ffn_up.weight")) == "model.layers.2.mlp.gate_up");
}
