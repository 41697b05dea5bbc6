// tools/common/allocation.hpp — choosing k per tensor under a bits-per-weight budget (a multiple-choice knapsack).
//
// Problem. Tensor t (n_t weights) coded with k bits per pair costs bits_t(k) (codes and side information, exactly as
// the container stores them: 8 · quantized_tensor::stored_bytes()) and is predicted to cost loss_t(k) at the model's
// output (tools/common/sensitivity.hpp: sensitivity × measured distortion). Choose k_t ∈ {4 … 12} to
//     minimise Σ_t loss_t(k_t)   subject to   Σ_t bits_t(k_t) ≤ R · Σ_t n_t.
//
// Exact solver (used whenever its table fits): every bits_t(k) − min_k bits_t(k) is a multiple of g, their greatest
// common divisor (for Llama-shaped models g is large: rows · 32 bytes · 8 for rows padded to multiples of 32), so
// the budget is counted in units of g and a dynamic programme over tensors and units
//     f_t(u) = min_k f_{t−1}(u − inc_t(k)) + loss_t(k),   f_0(u) = 0,   u = 0 … U = ⌊(R·N − Σ_t min_k bits_t) / g⌋
// gives the optimum exactly (ties: the smaller k). Memory: one byte per (tensor, unit) for the choices.
//
// Lagrangian solver (when T · (U + 1) exceeds `max_table` bytes, e.g. a 7B-shaped model at bit-granular sizes): for a
// multiplier λ each tensor takes argmin_k loss_t(k) + λ · bits_t(k); λ is bisected (on a log scale, 200 steps) to the
// smallest value whose choice fits the budget; then a greedy fill spends what is left: among all upgrades of one tensor
// to a k that still fits and lowers the loss, the one with the largest loss decrease per bit is taken, until none fits.
// The Lagrangian choice is optimal at its own rate (it lies on the lower convex hull); the fill is not guaranteed to be.
//
// Both are deterministic (no floating-point sums in varying order) and leave no affordable upgrade that would lower
// the loss of one tensor alone unless it raised the loss elsewhere.
#pragma once

#include <qamw/error.hpp>
#include <qamw/stages/packer.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace qamw::tools {

constexpr int alloc_choices = max_bits - min_bits + 1;  ///< k = 4 … 12

/// One tensor of the knapsack.
struct alloc_item {
    std::string name;
    std::int64_t weights = 0;                             ///< rows · cols
    std::array<std::uint64_t, alloc_choices> bits{};      ///< true bits at k = 4 + i
    std::array<double, alloc_choices> loss{};             ///< predicted loss at k = 4 + i (finite, ≥ 0)
};

struct allocation {
    std::vector<int> k;        ///< chosen k per item, in item order
    double loss = 0;           ///< Σ loss_t(k_t), summed in item order
    std::uint64_t bits = 0;    ///< Σ bits_t(k_t)
    std::uint64_t weights = 0;
    bool exact = false;        ///< true: the dynamic programme; false: Lagrangian + greedy fill
    double bpw() const { return weights ? double(bits) / double(weights) : 0; }
};

/// Fills a.loss and a.bits from a.k.
inline void total_allocation(const std::vector<alloc_item>& items, allocation& a) {
    a.loss = 0, a.bits = 0;
    for (std::size_t t = 0; t < items.size(); ++t) {
        const int c = a.k[t] - min_bits;
        a.loss += items[t].loss[c];
        a.bits += items[t].bits[c];
    }
}

/// The budget in bits for rate R over `items`; throws when R is outside [2, 6].
inline std::uint64_t budget_bits(const std::vector<alloc_item>& items, double rate) {
    if (!(rate >= 2.0 && rate <= 6.0))
        throw error(errc::invalid_argument, "--bpw " + std::to_string(rate) + ": the budget must be in [2, 6] bits per weight");
    double n = 0;
    for (const auto& it : items) n += double(it.weights);
    return static_cast<std::uint64_t>(std::floor(rate * n));
}

/// Solves the problem of the file comment for a budget of `budget` bits. Throws qamw::error (invalid_argument) on an
/// empty list, invalid items, or a budget below Σ_t min_k bits_t(k) (naming the smallest achievable rate).
inline allocation allocate_bits(const std::vector<alloc_item>& items, std::uint64_t budget,
                                std::uint64_t max_table = std::uint64_t(1) << 26) {
    if (items.empty()) throw error(errc::invalid_argument, "bit allocation: no tensors to allocate");
    std::uint64_t base = 0, weights = 0, g = 0, span = 0;
    std::vector<std::array<std::uint64_t, alloc_choices>> inc(items.size());
    for (std::size_t t = 0; t < items.size(); ++t) {
        const alloc_item& it = items[t];
        if (it.weights <= 0) throw error(errc::invalid_argument, "bit allocation: tensor '" + it.name + "' has no weights");
        std::uint64_t lo = it.bits[0], hi = it.bits[0];
        for (int c = 0; c < alloc_choices; ++c) {
            if (!(std::isfinite(it.loss[c]) && it.loss[c] >= 0))
                throw error(errc::invalid_argument, "bit allocation: tensor '" + it.name + "' has a predicted loss at k = " +
                                                        std::to_string(min_bits + c) + " that is not a finite number >= 0");
            lo = std::min(lo, it.bits[c]), hi = std::max(hi, it.bits[c]);
        }
        for (int c = 0; c < alloc_choices; ++c) inc[t][c] = it.bits[c] - lo, g = std::gcd(g, inc[t][c]);
        base += lo, span += hi - lo, weights += std::uint64_t(it.weights);
    }
    if (budget < base)
        throw error(errc::invalid_argument, "bit allocation: the budget of " + std::to_string(double(budget) / double(weights)) +
                                                " bits per weight is below the smallest achievable rate " +
                                                std::to_string(double(base) / double(weights)) + " (every tensor at its cheapest k)");
    allocation a;
    a.weights = weights;
    a.k.assign(items.size(), min_bits);
    const std::size_t T = items.size();
    const std::uint64_t U = g == 0 ? 0 : std::min(budget - base, span) / g;
    if (g == 0 || double(T) * double(U + 1) <= double(max_table)) {
        a.exact = true;
        std::vector<double> f(U + 1, 0.0), next(U + 1);
        std::vector<std::uint8_t> choice(T * (U + 1));
        for (std::size_t t = 0; t < T; ++t) {
            for (std::uint64_t u = 0; u <= U; ++u) {
                double best = std::numeric_limits<double>::infinity();
                int arg = 0;
                for (int c = 0; c < alloc_choices; ++c) {
                    const std::uint64_t du = g ? inc[t][c] / g : 0;
                    if (du > u) continue;
                    const double v = f[u - du] + items[t].loss[c];
                    if (v < best) best = v, arg = c;
                }
                next[u] = best;
                choice[t * (U + 1) + u] = static_cast<std::uint8_t>(arg);
            }
            f.swap(next);
        }
        std::uint64_t u = U;
        for (std::size_t t = T; t-- > 0;) {
            const int c = choice[t * (U + 1) + u];
            a.k[t] = min_bits + c;
            u -= g ? inc[t][c] / g : 0;
        }
        total_allocation(items, a);
        return a;
    }
    // Lagrangian relaxation, then the greedy fill.
    auto choose = [&](double lambda, std::vector<int>& k) {
        std::uint64_t b = 0;
        for (std::size_t t = 0; t < T; ++t) {
            double best = std::numeric_limits<double>::infinity();
            int arg = 0;
            for (int c = 0; c < alloc_choices; ++c) {
                const double v = items[t].loss[c] + lambda * double(items[t].bits[c]);
                if (v < best) best = v, arg = c;
            }
            k[t] = min_bits + arg;
            b += items[t].bits[arg];
        }
        return b;
    };
    std::vector<int> trial(T);
    double lo = -60, hi = 60;  // log2 λ; λ = 2^60 picks the cheapest k of every tensor, which fits
    if (choose(std::ldexp(1.0, int(lo)), trial) <= budget) hi = lo;
    for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
        const double mid = (lo + hi) / 2;
        if (choose(std::exp2(mid), trial) <= budget) hi = mid;
        else lo = mid;
    }
    choose(std::exp2(hi), a.k);
    total_allocation(items, a);
    for (;;) {
        double best_gain = 0;
        std::size_t bt = T;
        int bk = 0;
        for (std::size_t t = 0; t < T; ++t) {
            const int c0 = a.k[t] - min_bits;
            for (int c = 0; c < alloc_choices; ++c) {
                const double dl = items[t].loss[c0] - items[t].loss[c];
                if (dl <= 0 || items[t].bits[c] <= items[t].bits[c0]) continue;
                const std::uint64_t db = items[t].bits[c] - items[t].bits[c0];
                if (a.bits + db > budget) continue;
                const double gain = dl / double(db);
                if (gain > best_gain) best_gain = gain, bt = t, bk = min_bits + c;
            }
        }
        if (bt == T) break;
        a.k[bt] = bk;
        total_allocation(items, a);
    }
    return a;
}

}  // namespace qamw::tools
