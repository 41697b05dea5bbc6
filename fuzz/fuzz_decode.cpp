// fuzz/fuzz_decode.cpp — qamw::validate, decode and the engine's products (gemv, gemm) on a quantized_tensor built from arbitrary
// bytes, under every instruction set this machine runs. Must never crash, whatever the bytes.
//
// Input layout (little-endian; missing bytes read as zero):
//   byte 0       k (bits per pair; validate accepts 4…12)
//   bytes 1–2    rows (u16)
//   bytes 3–4    cols (u16)
//   byte 5       bits 0–3: log2 of the block B (B = 1…32768; validate accepts 32…4096 dividing n_pad)
//                bit 4: n_pad is read from the input (i32 after e) instead of following the padding rule
//                bit 5: the codes are one byte short;  bit 6: one byte long
//                bit 7: the tensor has column scales
//   bytes 6–7    the norm exponent e (i16; validate accepts −200…84)
//   [4 bytes     n_pad (i32), only when bit 4 is set]
//   then         codes (rows × row_bytes bytes, fewer if the input ends), norms (rows × f16), scales (cols × f16 when
//                bit 7), and the sign seed (u64, the default seed when absent)
// Oracle: decode is bit-identical under every ISA (docs/FORMAT.md: "reproduces qamw's decoder bit for bit"; NaNs compare
// equal to each other), every value a valid tensor decodes to is finite (finite in, finite out), an invalid tensor is
// rejected by validate() before any kernel runs, and decode_rows of one row equals that row of decode.
#include "common/product.hpp"
#include "fuzz_common.hpp"

#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

namespace {

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) && std::isnan(b[i])) continue;
        if (std::memcmp(&a[i], &b[i], 4) != 0) return false;
    }
    return true;
}

}  // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using qamw_fuzz::take_le;
    const std::uint8_t *p = data, *end = data + size;
    qamw::quantized_tensor q;
    q.bits = static_cast<int>(take_le(p, end, 1));
    q.rows = static_cast<std::int64_t>(take_le(p, end, 2));
    const std::int64_t cols = static_cast<std::int64_t>(take_le(p, end, 2));
    const unsigned flags = static_cast<unsigned>(take_le(p, end, 1));
    q.norms.exp2 = static_cast<std::int16_t>(take_le(p, end, 2));
    q.layout.cols = cols;
    q.layout.padded = (flags & 0x10u) ? static_cast<std::int32_t>(take_le(p, end, 4)) : (cols + 31) / 32 * 32;
    q.layout.block = 1 << (flags & 0x0fu);
    q.seed = qamw::params{}.seed;

    // Codes for the layout as stored (row_bytes of a negative or huge n_pad is meaningless: then take what is there).
    const bool sane = q.layout.padded >= 0 && q.layout.padded <= 65536 + 32;
    std::size_t code_bytes = sane ? static_cast<std::size_t>(q.rows) * q.row_bytes() : static_cast<std::size_t>(end - p);
    if (flags & 0x20u) code_bytes = code_bytes ? code_bytes - 1 : 0;
    if (flags & 0x40u) ++code_bytes;
    const std::size_t avail = static_cast<std::size_t>(end - p);
    q.codes.assign(p, p + std::min(code_bytes, avail));
    p += q.codes.size();
    for (std::int64_t i = 0; i < q.rows && end - p >= 2; ++i)
        q.norms.f16.push_back(static_cast<std::uint16_t>(take_le(p, end, 2)));
    if (flags & 0x80u)
        for (std::int64_t j = 0; j < cols && end - p >= 2; ++j)
            q.col_scales.push_back(static_cast<std::uint16_t>(take_le(p, end, 2)));
    if (end - p >= 8) q.seed = take_le(p, end, 8);

    try {
        qamw::validate(q);
    } catch (const qamw::error&) {
        // Invalid: decode must refuse it too (it validates before touching the codes).
        bool refused = false;
        try {
            qamw::decode(q);
        } catch (const qamw::error&) {
            refused = true;
        }
        QAMW_FUZZ_CHECK(refused);
        return 0;
    }

    const std::size_t n = static_cast<std::size_t>(cols), m = static_cast<std::size_t>(q.rows);
    std::vector<float> x(3 * n), y(m), y3(3 * m);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = float(int(j % 5) - 2) * 0.5f;

    std::vector<float> reference;
    for (qamw::isa id : qamw::available_isas()) {
        const qamw::kernel_table& k = *qamw::kernels_for(id);
        std::vector<float> w = qamw::decode(q, qamw::serial{}, k);
        QAMW_FUZZ_CHECK(w.size() == m * n);
        const qamw::tools::matmul mm(q.view(), k);
        if (id == qamw::isa::scalar) {
            for (float v : w) QAMW_FUZZ_CHECK(std::isfinite(v));
            reference = std::move(w);
            if (m > 0) {  // one row on its own equals the same row of the whole matrix
                std::vector<float> last(n);
                mm.decode_row(q.rows - 1, last.data());
                QAMW_FUZZ_CHECK(same_floats(last, std::vector<float>(reference.end() - static_cast<std::ptrdiff_t>(n),
                                                                     reference.end())));
            }
        } else {
            if (!same_floats(w, reference)) {
                std::fprintf(stderr, "decode under %s differs from the scalar reference\n", qamw::isa_name(id));
                std::abort();
            }
        }
        mm.gemv(x.data(), y.data(), 1);
        mm.gemm(x.data(), 3, y3.data(), 1);
        qamw_fuzz::keep(qamw_fuzz::touch(y.data(), 4 * y.size()));
        qamw_fuzz::keep(qamw_fuzz::touch(y3.data(), 4 * y3.size()));
    }
    return 0;
}
