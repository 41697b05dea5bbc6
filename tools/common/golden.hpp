// tools/common/golden.hpp — the golden vectors of tests/golden/: their case list, input recipe and file layout, shared
// by the writer (tools/gen_golden.cpp) and the test that holds every build to them (tests/test_golden.cpp).
//
// Cases: shapes 1×1, 3×5, 7×33, 5×172 for every k = 4…12 with and without column scales, and 16×256 for every k
// (scaled for odd k); requested blocks cycle through 32, 64, 128, 256, 4096; input dtypes cycle through f32, bf16, f16
// on the 3×5 shape. Then the D8-symmetric codebooks (codebooks/d8.hpp): 7×33 for k = 9, 10, 11 with and without column
// scales, named d8_kKK_….bin. Inputs are exact dyadic floats made from SplitMix64 words with integer arithmetic and exact
// power-of-two scaling only (no std::log/sin, which may differ in the last bit between C libraries), so every platform
// regenerates them bit for bit:
//   w_ij = (u1 + u2 + u3 + u4 − 2^23) · 2^(a_i − 24), u ∈ [0, 2^22) (a bell-shaped Irwin–Hall sum), per-row amplitude
//   a_i = (i mod 5) − 2; with ≥ 3 rows, row 1 is all zero (r̂ = 0) and w_00 is an outlier (× 64);
//   s_j = 0.25 + u · 2^−22, u < 2^24.
//
// File layout of one case, kKK_RxC_TYPE[_scaled].bin (all little-endian), "QAMWGLD1":
//   off  size  field
//    0     8   magic "QAMWGLD1"
//    8     4   rows              12   4  cols
//   16     4   k                 20   4  requested block B0
//   24     4   effective block   28   4  n_pad
//   32     4   flags: bit 0 column scales present; bits 1–2 input dtype (0 f32, 1 bf16, 2 f16); bit 3 codebook d8
//   36     8   sign seed
//   44     8   input seed        52   8  FNV-1a 64 of the input (weights as f32 bytes, then the scales as f32 bytes)
//   60     4   norm exponent e (i32)
//   64         codes (rows × row_bytes), norms (rows × u16), scales (cols × u16, when flagged), decoded (rows·cols × f32)
//
// The golden container, container.qamw.safetensors (format 3; container_v2 / container_v1.qamw.safetensors keep formats 2
// and 1, without the d8 cases): the 7×33 cases of every k and family, scaled and not, written by container_writer under
// the names "kKK.scaled" / "kKK.plain" (d8: "d8.kKK.…") — the exact bytes of a complete container file.
#pragma once

#include "common/codebooks.hpp"
#include "common/parallel.hpp"

#include <qamw/container.hpp>
#include <qamw/detail/hash.hpp>
#include <qamw/dispatch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace qamw::tools::golden {

/// What defines a case; everything else follows from it.
struct spec {
    std::string name;  ///< file name
    std::int64_t rows = 0, cols = 0;
    int bits = 0, block = 0;  ///< k and the requested block B0
    int type = 0;             ///< input dtype: 0 f32, 1 bf16, 2 f16
    bool scaled = false;
    codebook_family family = codebook_family::lm2d;
    std::uint64_t sign_seed = 0, input_seed = 0;
};

/// Every case, in file-name order of generation.
inline std::vector<spec> specs() {
    struct shape {
        std::int64_t rows, cols;
    };
    const shape shapes[] = {{1, 1}, {3, 5}, {7, 33}, {5, 172}, {16, 256}};
    const int blocks[] = {32, 64, 128, 256, 4096};
    const char* type_names[] = {"f32", "bf16", "f16"};
    std::vector<spec> out;
    for (int k = min_bits; k <= max_bits; ++k)
        for (int si = 0; si < 5; ++si)
            for (int scaled = 0; scaled < 2; ++scaled) {
                if (si == 4 && scaled != k % 2) continue;  // the largest shape once per k
                spec s;
                s.rows = shapes[si].rows;
                s.cols = shapes[si].cols;
                s.bits = k;
                s.block = blocks[(k + si) % 5];
                s.type = si == 1 ? k % 3 : 0;
                s.scaled = scaled != 0;
                const std::uint64_t id = static_cast<std::uint64_t>(k * 100 + si * 10 + scaled);
                s.sign_seed = detail::splitmix64(id);
                s.input_seed = detail::splitmix64(id ^ 0x676f6c64656e0000ull);  // "golden"
                char name[64];
                std::snprintf(name, sizeof name, "k%02d_%lldx%lld_%s%s.bin", k, static_cast<long long>(s.rows),
                              static_cast<long long>(s.cols), type_names[s.type], s.scaled ? "_scaled" : "");
                s.name = name;
                out.push_back(s);
            }
    for (int k = 9; k <= 11; ++k)
        for (int scaled = 0; scaled < 2; ++scaled) {
            spec s;
            s.rows = 7, s.cols = 33, s.bits = k, s.block = blocks[(k + 2) % 5];
            s.scaled = scaled != 0;
            s.family = codebook_family::d8;
            const std::uint64_t id = static_cast<std::uint64_t>(10000 + k * 100 + 20 + scaled);
            s.sign_seed = detail::splitmix64(id);
            s.input_seed = detail::splitmix64(id ^ 0x676f6c64656e0000ull);
            char name[64];
            std::snprintf(name, sizeof name, "d8_k%02d_7x33_f32%s.bin", k, s.scaled ? "_scaled" : "");
            s.name = name;
            out.push_back(s);
        }
    return out;
}

/// The weights (row-major f32) and, when scaled, the column scales of a case.
struct input {
    std::vector<float> w, s;
};

inline input make_input(const spec& c) {
    auto word = [&](std::uint64_t i) { return detail::splitmix64(c.input_seed + i * 0x9e3779b97f4a7c15ull); };
    input in;
    std::uint64_t i = 0;
    for (std::int64_t r = 0; r < c.rows; ++r)
        for (std::int64_t j = 0; j < c.cols; ++j) {
            std::int64_t sum = -(std::int64_t{1} << 23);
            for (int t = 0; t < 4; ++t) sum += static_cast<std::int64_t>(word(i++) >> 42);
            float v = std::ldexp(static_cast<float>(sum), static_cast<int>(r % 5) - 2 - 24);
            if (c.rows >= 3 && r == 1) v = 0.0f;
            if (c.rows >= 3 && r == 0 && j == 0) v *= 64.0f;
            in.w.push_back(v);
        }
    if (c.scaled)
        for (std::int64_t j = 0; j < c.cols; ++j) in.s.push_back(0.25f + std::ldexp(static_cast<float>(word(i++) >> 40), -22));
    return in;
}

inline std::uint64_t checksum(const input& in) {
    std::uint64_t h = detail::fnv1a64(in.w.data(), 4 * in.w.size());
    return detail::fnv1a64(in.s.data(), 4 * in.s.size(), h);
}

/// Encodes a case's input (converted to the case's dtype first) on `threads` threads with the kernels k.
inline quantized_tensor encode_case(const spec& c, const input& in, int threads, const kernel_table& k) {
    params p;
    p.bits = c.bits;
    p.block = c.block;
    p.seed = c.sign_seed;
    p.family = c.family;
    const float* s = in.s.empty() ? nullptr : in.s.data();
    const codebook& cb = codebook_for(c.bits, c.family);
    if (c.type == 0) return encode(cb, in.w.data(), c.rows, c.cols, p, s, on_threads{threads}, k);
    std::vector<std::uint16_t> h;
    for (float v : in.w) h.push_back(c.type == 1 ? detail::f32_to_bf16(v) : detail::f32_to_f16(v));
    return encode(cb, h.data(), c.type == 1 ? dtype::bf16 : dtype::f16, c.rows, c.cols, p, s, on_threads{threads}, k);
}

/// A stored case: its spec, the FNV-1a of its input, its encoding and its decoding.
struct record {
    spec s;
    std::uint64_t input_fnv = 0;
    quantized_tensor q;
    std::vector<float> decoded;
};

inline std::vector<std::uint8_t> to_bytes(const record& r) {
    std::vector<std::uint8_t> b;
    auto u = [&](std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    for (char ch : std::string("QAMWGLD1")) b.push_back(static_cast<std::uint8_t>(ch));
    u(static_cast<std::uint64_t>(r.s.rows), 4);
    u(static_cast<std::uint64_t>(r.s.cols), 4);
    u(static_cast<std::uint64_t>(r.s.bits), 4);
    u(static_cast<std::uint64_t>(r.s.block), 4);
    u(static_cast<std::uint64_t>(r.q.layout.block), 4);
    u(static_cast<std::uint64_t>(r.q.layout.padded), 4);
    u(static_cast<std::uint64_t>(r.s.scaled) | static_cast<std::uint64_t>(r.s.type) << 1 |
          std::uint64_t{r.s.family == codebook_family::d8} << 3,
      4);
    u(r.s.sign_seed, 8);
    u(r.s.input_seed, 8);
    u(r.input_fnv, 8);
    u(static_cast<std::uint32_t>(r.q.norms.exp2), 4);
    b.insert(b.end(), r.q.codes.begin(), r.q.codes.end());
    for (std::uint16_t h : r.q.norms.f16) u(h, 2);
    for (std::uint16_t h : r.q.col_scales) u(h, 2);
    for (float v : r.decoded) {
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        u(bits, 4);
    }
    return b;
}

/// Parses a stored case; throws std::runtime_error naming `name` on a malformed file.
inline record from_bytes(const std::vector<std::uint8_t>& b, const std::string& name) {
    std::size_t pos = 0;
    auto u = [&](int n) {
        if (pos + static_cast<std::size_t>(n) > b.size()) throw std::runtime_error(name + ": truncated");
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= std::uint64_t{b[pos++]} << (8 * i);
        return v;
    };
    if (b.size() < 8 || std::string(b.begin(), b.begin() + 8) != "QAMWGLD1")
        throw std::runtime_error(name + ": not a QAMWGLD1 file");
    pos = 8;
    record r;
    r.s.name = name;
    r.s.rows = static_cast<std::int64_t>(u(4));
    r.s.cols = static_cast<std::int64_t>(u(4));
    r.s.bits = static_cast<int>(u(4));
    r.s.block = static_cast<int>(u(4));
    r.q.rows = r.s.rows;
    r.q.bits = r.s.bits;
    r.q.layout.cols = r.s.cols;
    r.q.layout.block = static_cast<int>(u(4));
    r.q.layout.padded = static_cast<std::int64_t>(u(4));
    const std::uint64_t flags = u(4);
    r.s.scaled = flags & 1u;
    r.s.type = static_cast<int>(flags >> 1 & 3u);
    r.s.family = r.q.family = (flags >> 3 & 1u) ? codebook_family::d8 : codebook_family::lm2d;
    r.s.sign_seed = r.q.seed = u(8);
    r.s.input_seed = u(8);
    r.input_fnv = u(8);
    r.q.norms.exp2 = static_cast<std::int32_t>(static_cast<std::uint32_t>(u(4)));
    if (r.s.rows < 0 || r.s.rows > 4096 || r.s.cols < 1 || r.s.cols > 4096 || r.q.layout.padded < 0 ||
        r.q.layout.padded > 8192)
        throw std::runtime_error(name + ": implausible shape");
    const std::size_t need = static_cast<std::size_t>(r.s.rows) * r.q.row_bytes();
    if (pos + need > b.size()) throw std::runtime_error(name + ": codes truncated");
    r.q.codes.assign(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(pos + need));
    pos += need;
    for (std::int64_t i = 0; i < r.s.rows; ++i) r.q.norms.f16.push_back(static_cast<std::uint16_t>(u(2)));
    if (r.s.scaled)
        for (std::int64_t j = 0; j < r.s.cols; ++j) r.q.col_scales.push_back(static_cast<std::uint16_t>(u(2)));
    for (std::int64_t i = 0; i < r.s.rows * r.s.cols; ++i) {
        const std::uint32_t bits = static_cast<std::uint32_t>(u(4));
        float v;
        std::memcpy(&v, &bits, 4);
        r.decoded.push_back(v);
    }
    if (pos != b.size()) throw std::runtime_error(name + ": trailing bytes");
    return r;
}

/// Name of a case inside the golden container.
inline std::string container_name(const spec& s) {
    char n[32];
    std::snprintf(n, sizeof n, "%sk%02d.%s", s.family == codebook_family::d8 ? "d8." : "", s.bits,
                  s.scaled ? "scaled" : "plain");
    return n;
}

/// Whether a case goes into the golden container.
inline bool in_container(const spec& s) { return s.rows == 7 && s.cols == 33; }

/// Writes the golden container of `records` (the in_container ones) to `path`.
inline void write_container(const std::string& path, const std::vector<record>& records) {
    container_writer w(path);
    for (const record& r : records) {
        if (!in_container(r.s)) continue;
        params p;
        p.bits = r.s.bits;
        p.block = r.s.block;
        p.seed = r.s.sign_seed;
        p.family = r.s.family;
        w.declare_quantized(container_name(r.s), r.s.rows, r.s.cols, p, r.s.scaled, io::dtype::f32);
    }
    w.begin();
    for (const record& r : records)
        if (in_container(r.s)) w.write_quantized(container_name(r.s), r.q);
    w.commit();
}

}  // namespace qamw::tools::golden
