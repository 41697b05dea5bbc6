// qamw/dispatch.hpp — runtime choice of the kernel instruction set.
//
// Two ways to build: (1) header-only: kernels exist for the scalar reference and for the architecture the consumer's
// compiler flags enable (-march=...); (2) linking the qamw::dispatch library (defines QAMW_DISPATCH): one translation
// unit per ISA (SSE2, AVX2+FMA, AVX-512BW, AVX-512BW+VBMI+VNNI "avx512vnni" on x86-64; NEON on AArch64), chosen at run
// time from the CPU. Either way the
// environment variable QAMW_ISA=scalar|sse2|avx2|avx512|avx512vnni|neon forces one (for tests and benchmarks); an ISA that is not
// built in or that the CPU lacks is an error, never a silent fallback. The choice is made once, outside every loop.
#pragma once

#include <qamw/error.hpp>
#include <qamw/kernels/isa.hpp>
#include <qamw/kernels/reference.hpp>
#include <qamw/kernels/table.hpp>
#include <qamw/stages/fwht.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace qamw {

#ifdef QAMW_DISPATCH
namespace detail {
/// Defined by the qamw::dispatch library: the table of `id` if it was compiled and the CPU runs it, else nullptr.
const kernel_table* compiled_kernel_table(isa id);
}  // namespace detail
#endif

/// The scalar reference kernels (qamw::ref), always available.
inline const kernel_table& reference_kernels() {
    static const kernel_table t = [] {
        kernel_table k{};
        k.id = isa::scalar;
        k.fwht_forward = &ref::fwht_forward;
        k.fwht_inverse = &ref::fwht_inverse;
        k.lookup_row = &ref::lookup_row;
        k.dot_row = &ref::dot_row;
        k.dot_tile = &ref::dot_tile;
        k.dot_rows_q8 = &ref::dot_rows_q8;
        k.dot_rows_q16 = &ref::dot_rows_q16;
        return k;
    }();
    return t;
}

namespace detail {
constexpr isa isa_of_name(const char* n) {
    // xsimd::default_arch::name(): "avx512bw", "fma3+avx2", "avx2", "sse4.2", ..., "arm64+neon"
    auto has = [](const char* s, const char* sub) {
        for (; *s; ++s) {
            const char *a = s, *b = sub;
            while (*a && *b && *a == *b) ++a, ++b;
            if (!*b) return true;
        }
        return false;
    };
    return has(n, "avx512bw") ? isa::avx512
           : has(n, "avx2")   ? isa::avx2
           : has(n, "sse")    ? isa::sse2
           : has(n, "neon")   ? isa::neon
                              : isa::scalar;
}
}  // namespace detail

/// The kernels of `id`, or nullptr when they are not built in or the CPU cannot run them.
inline const kernel_table* kernels_for(isa id) {
    if (id == isa::scalar) return &reference_kernels();
#ifdef QAMW_DISPATCH
    return detail::compiled_kernel_table(id);
#else
    using arch = xsimd::default_arch;
    if (id != detail::isa_of_name(arch::name())) return nullptr;
    static const kernel_table t = make_kernel_table<arch>(id);
    return &t;
#endif
}

/// Every ISA whose kernels can run here, best last.
inline std::vector<isa> available_isas() {
    std::vector<isa> out;
    for (isa i : {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::avx512vnni, isa::neon})
        if (kernels_for(i)) out.push_back(i);
    return out;
}

namespace detail {
inline std::atomic<const kernel_table*>& active_slot() {
    static std::atomic<const kernel_table*> slot{nullptr};
    return slot;
}
inline isa parse_isa(const std::string& s) {
    for (isa i : {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::avx512vnni, isa::neon})
        if (s == isa_name(i)) return i;
    throw error(errc::invalid_argument, "QAMW_ISA='" + s + "': expected scalar, sse2, avx2, avx512, avx512vnni or neon");
}
}  // namespace detail

/// Makes `id` the ISA of every later codec call in this process. Throws if it is not available.
inline void use_isa(isa id) {
    const kernel_table* t = kernels_for(id);
    if (!t) throw error(errc::unsupported, std::string("instruction set ") + isa_name(id) + " is not available here");
    detail::active_slot().store(t);
}

/// The kernels in use: QAMW_ISA if set (throws if unavailable), else the best available; fixed on first call unless
/// use_isa() changes it.
inline const kernel_table& active_kernels() {
    const kernel_table* t = detail::active_slot().load();
    if (t) return *t;
    if (const char* env = std::getenv("QAMW_ISA"); env && *env) {
        use_isa(detail::parse_isa(env));
    } else {
        detail::active_slot().store(kernels_for(available_isas().back()));
    }
    return *detail::active_slot().load();
}

}  // namespace qamw
