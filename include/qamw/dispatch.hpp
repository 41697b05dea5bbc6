// qamw/dispatch.hpp — opt-in runtime choice of the kernel instruction set, on top of the inlinable kernels.
//
// An engine that compiles for one architecture passes qamw::simd_kernels<Arch> (kernels/table.hpp) to the codec and
// engine templates and needs none of this. For one binary that runs everywhere, link the qamw::dispatch library
// (defines QAMW_DISPATCH): one translation unit per ISA (SSE2, AVX2+FMA, AVX-512BW, AVX-512BW+VBMI+VNNI with scalar
// table loads or with gathers on x86-64;
// NEON and NEON + dot product on AArch64), and
// kernels_for() hands out the tables the CPU can run. Header-only, kernels_for() knows the scalar references and the
// architecture the consumer's compiler flags enable (xsimd::default_arch: -march=sandybridge gives the avx kernels).
// select_kernels() is the one place that reads the environment: QAMW_ISA=scalar|sse2|avx|avx2|avx512|avx512vnni|avx512vnni_gather|neon|neondot forces an
// ISA (for tests and benchmarks); one that is not built in or that the CPU lacks is an error, never a silent fallback.
// Nothing here is mutable state: every table is a constant, and the choice is the caller's to keep.
#pragma once

#include <qamw/error.hpp>
#include <qamw/kernels/isa.hpp>
#include <qamw/kernels/table.hpp>

#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

namespace qamw {

#ifdef QAMW_DISPATCH
namespace detail {
/// Defined by the qamw::dispatch library: the table of `id` if it was compiled and the CPU runs it, else nullptr.
const kernel_table* compiled_kernel_table(isa id);
}  // namespace detail
#endif

/// The kernels of `id`, or nullptr when they are not built in or the CPU cannot run them.
inline const kernel_table* kernels_for(isa id) {
    static constexpr kernel_table reference = make_kernel_table<ref_kernels>();
    if (id == isa::scalar) return &reference;
#ifdef QAMW_DISPATCH
    return detail::compiled_kernel_table(id);
#else
    static constexpr kernel_table native = make_kernel_table<simd_kernels<xsimd::default_arch>>();
    return id == native.id ? &native : nullptr;
#endif
}

/// Every ISA whose kernels can run here, best last.
inline std::vector<isa> available_isas() {
    std::vector<isa> out;
    for (isa i : all_isas)
        if (kernels_for(i)) out.push_back(i);
    return out;
}

/// The ISA named `s` ("scalar", "sse2", "avx", "avx2", "avx512", "avx512vnni", "avx512vnni_gather", "neon", "neondot"); throws naming `what` (e.g. "QAMW_ISA").
inline isa parse_isa(const std::string& s, const std::string& what) {
    std::string names;
    const std::size_t n = std::size(all_isas);
    for (std::size_t j = 0; j < n; ++j) {
        if (s == isa_name(all_isas[j])) return all_isas[j];
        names += std::string(j == 0 ? "" : j + 1 == n ? " or " : ", ") + isa_name(all_isas[j]);
    }
    throw error(errc::invalid_argument, what + "='" + s + "': expected " + names);
}

/// The kernels of `id`; throws errc::unsupported naming it when they cannot run here.
inline const kernel_table& require_kernels(isa id) {
    const kernel_table* t = kernels_for(id);
    if (!t) throw error(errc::unsupported, std::string("instruction set ") + isa_name(id) + " is not available here");
    return *t;
}

/// Whether this CPU's hardware gathers should do the q16 table lookups (the avx512vnni_gather kernels): Intel CPUs,
/// except the models with AVX-512 VBMI + VNNI that Intel lists as affected by Gather Data Sampling (Ice Lake, Tiger
/// Lake, Rocket Lake: family 6, models 106, 108, 125, 126, 140, 141, 167), whose microcode mitigation makes gathers
/// slow. Measured (k = 9, 11 GEMVs): gathers about 1.4× the scalar loads on an Emerald Rapids Xeon, 0.4–0.7× on AMD
/// Zen 4 (docs/PERFORMANCE.md "Integer kernels");
/// the other Intel models were not measured. Both kernel sets give the same bits: this chooses speed only.
inline bool gathers_preferred() {
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d) || b != 0x756e6547u || d != 0x49656e69u || c != 0x6c65746eu) return false;  // "GenuineIntel"
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const unsigned family = (a >> 8) & 0xf, model = ((a >> 4) & 0xf) | (((a >> 16) & 0xf) << 4);
    if (family != 6) return true;
    for (unsigned m : {106u, 108u, 125u, 126u, 140u, 141u, 167u})
        if (model == m) return false;
    return true;
#else
    return false;
#endif
}

/// The environment's choice: QAMW_ISA if set (throws if it names no ISA or one unavailable here), else the best
/// available — avx512vnni_gather only where gathers_preferred(), else avx512vnni. Reads the environment on every call:
/// call it once and keep the result.
inline const kernel_table& select_kernels() {
    if (const char* env = std::getenv("QAMW_ISA"); env && *env) return require_kernels(parse_isa(env, "QAMW_ISA"));
    std::vector<isa> ids = available_isas();
    if (ids.back() == isa::avx512vnni_gather && !gathers_preferred()) ids.pop_back();
    return *kernels_for(ids.back());
}

}  // namespace qamw
