// qamw/kernels/arch.hpp — the xsimd architecture tags qamw adds for instruction-set extensions xsimd 8.1 has no tag
// for. Each is a kernel set of its own (kernels/table.hpp, qamw/dispatch.hpp); deriving from xsimd's tag keeps xsimd's
// batches working on it.
#pragma once

#include <xsimd/xsimd.hpp>

namespace qamw {

/// Architecture tag of the kernels that need AVX-512 VBMI and VNNI besides AVX-512BW (Ice Lake, Sapphire Rapids,
/// Zen 4 and later). xsimd 8.1 has no such tag; float kernels run as for avx512bw. The dispatch library compiles it in
/// src/isa_avx512vnni.cpp with -mavx512vbmi -mavx512vnni and picks it when the CPU reports both (src/dispatch.cpp).
struct avx512_vnni : xsimd::avx512bw {
    static constexpr char const* name() noexcept { return "avx512vnni"; }
};

/// Architecture tag of the avx512_vnni kernels with the q16 table lookups done by hardware gathers (vpgatherdd)
/// instead of scalar loads (kernels/int_product.hpp: q16_codes): the same instructions sets and the same bits, a tuning
/// for CPUs with fast gathers. Measured k = 9, 11 GEMVs: about 1.4× the scalar loads on Intel Emerald Rapids (16
/// threads), 0.4–0.7× on AMD Zen 4 (docs/PERFORMANCE.md "Integer kernels"); select_kernels() prefers it where
/// gathers_preferred() (qamw/dispatch.hpp).
struct avx512_vnni_gather : avx512_vnni {
    static constexpr char const* name() noexcept { return "avx512vnni_gather"; }
};

/// Architecture tag of AArch64 NEON with the dot-product extension (ARMv8.2 FEAT_DotProd: sdot). xsimd 8.1 has no
/// such tag; float kernels run as neon64's (kernels/table.hpp: float_arch). The dispatch library compiles it in src/isa_neondot.cpp with
/// -march=armv8.2-a+dotprod and picks it when the kernel reports the feature (src/dispatch.cpp). A tag rather than the
/// compiler's __ARM_FEATURE_DOTPROD, so that translation units built with and without +dotprod instantiate different
/// templates (no ODR clash between the baseline and the dotprod kernels).
struct neon_dotprod : xsimd::neon64 {
    static constexpr char const* name() noexcept { return "neondot"; }
};

}  // namespace qamw

namespace xsimd::types {
XSIMD_DECLARE_SIMD_REGISTER_ALIAS(qamw::avx512_vnni, avx512bw);
XSIMD_DECLARE_SIMD_REGISTER_ALIAS(qamw::avx512_vnni_gather, avx512bw);
XSIMD_DECLARE_SIMD_REGISTER_ALIAS(qamw::neon_dotprod, neon64);
}  // namespace xsimd::types
