// qamw/stages/codebook.hpp — the 2D codebook stage: nearest-point encoding and table-lookup decoding.
//
// Math. A codebook is a list of N = 2^k points c_0 … c_{N−1} in the plane (k bits per pair, 4 ≤ k ≤ 12). Encoding maps
// a point p = (x, y) to the index of its nearest codeword under the squared Euclidean distance, computed exactly as
//     dx = (double)x − (double)c.x,  dy = (double)y − (double)c.y,  d = dx·dx + dy·dy   (IEEE double, no fused ops)
// with ties broken by the lower index. Decoding maps an index back to its codeword. Not invertible (it is the quantizer);
// the decoder needs only the table, which ships as generated data (qamw/codebooks/) with an FNV-1a checksum.
//
// Search. `nearest_index` returns exactly what brute force returns, without scanning all N points: a uniform G×G grid
// over the codebook's bounding square lists, for each cell with centre q and half-diagonal h, every codeword i with
// |q − c_i| ≤ min_j |q − c_j| + 2h + ε. Any point p of the cell has |p − q| ≤ h, so its nearest codeword c* satisfies
// |q − c*| ≤ |p − c*| + h ≤ |p − c_j| + h ≤ |q − c_j| + 2h for every j: it is in the list (ε absorbs rounding in the cell
// computation), and so is every codeword tied with it. Points outside the grid (beyond the outermost codewords, rare in
// practice) are searched by brute force. Non-finite inputs must be rejected before the search (the codec does).
#pragma once

#include <qamw/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace qamw {

/// Squared distance of the spec above; the one function every search path uses.
inline double sq_distance(float x, float y, float cx, float cy) {
    double dx = static_cast<double>(x) - static_cast<double>(cx);
    double dy = static_cast<double>(y) - static_cast<double>(cy);
    double dx2 = dx * dx, dy2 = dy * dy;  // separate statements: no contraction into fma even if the compiler may
    return dx2 + dy2;
}

namespace ref {
/// Brute-force nearest codeword: the definition the fast search is held to.
inline std::uint32_t nearest(float x, float y, const float* xs, const float* ys, std::size_t n) {
    std::uint32_t best = 0;
    double bd = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
        double d = sq_distance(x, y, xs[i], ys[i]);
        if (d < bd) bd = d, best = static_cast<std::uint32_t>(i);
    }
    return best;
}
}  // namespace ref

/// Exact nearest-codeword search accelerated by a uniform grid of candidate lists (see the file comment).
class nearest_index {
public:
    nearest_index() = default;

    /// xs, ys: the n codeword coordinates (kept by reference: they must outlive the index). cells_per_point sets the
    /// grid resolution: about that many grid cells per codeword over the bounding square.
    nearest_index(const float* xs, const float* ys, std::size_t n, double cells_per_point = 16.0)
        : xs_(xs), ys_(ys), n_(n) {
        if (n == 0 || n > 65536) throw error(errc::invalid_argument, "nearest_index: codebook size must be 1..65536");
        double extent = 0;
        for (std::size_t i = 0; i < n; ++i) extent = std::max({extent, std::fabs(double(xs[i])), std::fabs(double(ys[i]))});
        grid_ = std::max(1, static_cast<int>(std::ceil(std::sqrt(cells_per_point * double(n)))));
        double half = extent * 1.02 + 1e-3;
        cell_ = 2 * half / grid_;
        lo_ = -half;
        inv_cell_ = 1.0 / cell_;
        build();
    }

    std::size_t size() const { return n_; }

    /// Index of the nearest codeword to (x, y); x and y must be finite.
    std::uint32_t nearest(float x, float y) const {
        double fx = (double(x) - lo_) * inv_cell_, fy = (double(y) - lo_) * inv_cell_;
        if (!(fx >= 0 && fy >= 0 && fx < grid_ && fy < grid_)) return ref::nearest(x, y, xs_, ys_, n_);
        std::size_t cell = static_cast<std::size_t>(fy) * grid_ + static_cast<std::size_t>(fx);
        const std::uint16_t* c = cand_.data() + begin_[cell];
        const std::uint16_t* end = cand_.data() + begin_[cell + 1];
        std::uint32_t best = *c;
        double bd = sq_distance(x, y, xs_[best], ys_[best]);
        for (++c; c != end; ++c) {  // lists are sorted by index: strict '<' keeps the lower index on ties
            double d = sq_distance(x, y, xs_[*c], ys_[*c]);
            if (d < bd) bd = d, best = *c;
        }
        return best;
    }

    /// Mean candidate-list length over the grid (a cost figure for docs and benchmarks).
    double mean_candidates() const { return double(cand_.size()) / double(begin_.size() - 1); }

private:
    void build() {
        const int g = grid_;
        // Bucket the codewords by grid cell (clamped), then find each cell's candidates by searching rings of buckets.
        std::vector<std::vector<std::uint16_t>> bucket(static_cast<std::size_t>(g) * g);
        for (std::size_t i = 0; i < n_; ++i) bucket[cell_of(xs_[i], ys_[i])].push_back(static_cast<std::uint16_t>(i));
        const double h = cell_ * std::sqrt(0.5), eps = 1e-6 * cell_ + 1e-9;
        begin_.assign(static_cast<std::size_t>(g) * g + 1, 0);
        std::vector<std::uint16_t> found;
        for (int cy = 0; cy < g; ++cy)
            for (int cx = 0; cx < g; ++cx) {
                double qx = lo_ + (cx + 0.5) * cell_, qy = lo_ + (cy + 0.5) * cell_;
                auto dist = [&](std::uint16_t i) { return std::hypot(qx - xs_[i], qy - ys_[i]); };
                // 1. distance to the nearest codeword: rings until the ring's lower bound exceeds the best so far.
                double best = std::numeric_limits<double>::infinity();
                for (int r = 0; r <= g; ++r) {
                    if ((r - 1) * cell_ > best) break;
                    for_ring(cx, cy, r, [&](std::size_t b) {
                        for (auto i : bucket[b]) best = std::min(best, dist(i));
                    });
                }
                // 2. every codeword within best + 2h + eps.
                double limit = best + 2 * h + eps;
                found.clear();
                for (int r = 0; r <= g; ++r) {
                    if ((r - 1) * cell_ > limit) break;
                    for_ring(cx, cy, r, [&](std::size_t b) {
                        for (auto i : bucket[b])
                            if (dist(i) <= limit) found.push_back(i);
                    });
                }
                std::sort(found.begin(), found.end());
                cand_.insert(cand_.end(), found.begin(), found.end());
                begin_[static_cast<std::size_t>(cy) * g + cx + 1] = static_cast<std::uint32_t>(cand_.size());
            }
    }

    std::size_t cell_of(float x, float y) const {
        auto clampi = [&](double v) { return std::min(grid_ - 1, std::max(0, static_cast<int>(std::floor(v)))); };
        return static_cast<std::size_t>(clampi((y - lo_) * inv_cell_)) * grid_ + clampi((x - lo_) * inv_cell_);
    }

    /// Calls f(bucket) for every in-range cell at Chebyshev distance exactly r from (cx, cy). Buckets are clamped to the
    /// grid, so a cell's distance bound (r − 1)·cell also covers codewords bucketed at the border.
    template <class F>
    void for_ring(int cx, int cy, int r, F&& f) const {
        auto visit = [&](int x, int y) {
            if (x >= 0 && y >= 0 && x < grid_ && y < grid_) f(static_cast<std::size_t>(y) * grid_ + x);
        };
        if (r == 0) return visit(cx, cy);
        for (int x = cx - r; x <= cx + r; ++x) visit(x, cy - r), visit(x, cy + r);
        for (int y = cy - r + 1; y <= cy + r - 1; ++y) visit(cx - r, y), visit(cx + r, y);
    }

    const float* xs_ = nullptr;
    const float* ys_ = nullptr;
    std::size_t n_ = 0;
    int grid_ = 0;
    double cell_ = 0, lo_ = 0, inv_cell_ = 0;
    std::vector<std::uint32_t> begin_;
    std::vector<std::uint16_t> cand_;
};

}  // namespace qamw
