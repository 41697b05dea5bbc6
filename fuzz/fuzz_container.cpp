// fuzz/fuzz_container.cpp — qamw::container::open on arbitrary bytes, then everything a reader does with a container:
// view + payload checksum + decode of every quantized tensor, a gemv and a small gemm with it, and the embedded files (base64).
//
// Invariants checked on accepted containers: view() returns a tensor that validate() accepts with the shape, k, block
// and padded width of its metadata; decode() returns rows × cols finite floats (validate() bounds the norm exponent so
// that every decoded weight is finite); gemv agrees with decode-then-multiply within a float-sum bound.
#include "common/product.hpp"
#include "fuzz_common.hpp"

#include <qamw/container.hpp>
#include <qamw/dispatch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

/// Products are run only up to this row length: the caller of gemv supplies cols floats, so a tensor of 0 rows and
/// 2^40 columns (valid: it holds no codes) is decoded but not multiplied.
constexpr std::int64_t max_product_cols = std::int64_t{1} << 20;

void exercise(const qamw::container& c, const std::string& name) {
    const qamw::io::json& meta = c.meta(name);
    const qamw::quantized_view q = c.view(name);
    c.verify(name);  // format 2: throws qamw::error on a payload that does not match its checksum
    QAMW_FUZZ_CHECK(q.rows == meta.at("rows").as_int() && q.cols() == meta.at("cols").as_int());
    // The tensor is the one its metadata describes (no field silently narrowed or reinterpreted).
    QAMW_FUZZ_CHECK(q.bits == meta.at("bits").as_int());
    QAMW_FUZZ_CHECK(q.layout.block == meta.at("block").as_int() && q.layout.padded == meta.at("padded").as_int());
    std::vector<float> w = qamw::decode(q);
    QAMW_FUZZ_CHECK(w.size() == static_cast<std::size_t>(q.rows) * static_cast<std::size_t>(q.cols()));
    if (q.cols() > max_product_cols) return;

    const std::size_t n = static_cast<std::size_t>(q.cols()), m = static_cast<std::size_t>(q.rows);
    std::vector<float> x(2 * n), y(m), y2(2 * m);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = float(int(j % 7) - 3) * 0.25f;
    const qamw::tools::matmul mm(q, qamw::select_kernels());
    mm.gemv(x.data(), y.data(), 1);
    mm.gemm(x.data(), 2, y2.data(), 1);
    for (float v : w) QAMW_FUZZ_CHECK(std::isfinite(v));  // finite in, finite out
    // Oracle: y_i = Σ_j ŵ_ij x_j = Σ_j (ŵ_ij s_j)(x_j / s_j); both sides are float computations of a sum over n_pad
    // rotated coordinates, so their difference is bounded by a small multiple of n_pad · 2^-24 · ‖ŵ_i ⊙ s‖ · ‖x ⊘ s‖.
    // Gross bugs (wrong row, wrong scale, bytes read from elsewhere) are off by O(1) relative to that product.
    const float* s = mm.prepared().scales();
    const double rel = std::min(0.01, 4.0 * double(q.layout.padded + 64) * 0x1p-24);
    for (std::size_t b = 0; b < 2; ++b) {
        double xs = 0;
        for (std::size_t j = 0; j < n; ++j) {
            double v = double(x[b * n + j]) / (s ? double(s[j]) : 1.0);
            xs += v * v;
        }
        for (std::size_t i = 0; i < m; ++i) {
            double want = 0, ws = 0;
            for (std::size_t j = 0; j < n; ++j) {
                want += double(w[i * n + j]) * x[b * n + j];
                double v = double(w[i * n + j]) * (s ? double(s[j]) : 1.0);
                ws += v * v;
            }
            const double bound = std::sqrt(ws) * std::sqrt(xs);
            if (!(bound < 1e37)) continue;  // f32 products may overflow: nothing to compare
            const double tol = rel * bound + 1e-30;
            const float got = y2[b * m + i];
            QAMW_FUZZ_CHECK(std::isfinite(got) && std::fabs(double(got) - want) <= tol);
            if (b == 0) QAMW_FUZZ_CHECK(std::isfinite(y[i]) && std::fabs(double(y[i]) - want) <= tol);
        }
    }
}

}  // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = qamw_fuzz::write_scratch("fuzz.qamw.safetensors", data, size);
    try {
        qamw::container c = qamw::container::open(path);
        for (const std::string& name : c.tensor_names()) QAMW_FUZZ_CHECK(c.file().find(name) || c.is_quantized(name));
        for (const std::string& name : c.quantized_names()) {
            try {
                exercise(c, name);
            } catch (const qamw::error&) {
                // view() may reject a tensor (e.g. a negative row norm) that open() accepted: that is allowed.
            }
        }
        for (const std::string& f : c.embedded_files()) {
            try {
                auto bytes = c.embedded_file(f);
                QAMW_FUZZ_CHECK(bytes.has_value());
                qamw_fuzz::keep(qamw_fuzz::touch(bytes->data(), bytes->size()));
            } catch (const qamw::error&) {
            }
        }
    } catch (const qamw::error&) {
    }
    return 0;
}
