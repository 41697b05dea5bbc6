// tools/gen_codebooks.cpp — trains the 2D Lloyd-Max codebooks for N(0, I₂) and writes include/qamw/codebooks/.
//
// Deterministic: no random numbers. The Gaussian is integrated on a fine uniform grid (midpoint rule, step 1/12 (k ≤ 9)
// or 1/8 (k ≥ 10) of the codeword spacing at the origin, disk of radius 7.5), so every Lloyd step is an exact function of the current
// codebook, and partial sums are combined in a fixed stripe order whatever the thread count.
//
// Initialisation: concentric rings whose radial and tangential spacing follow the high-rate optimal point density
// λ(p) ∝ N(p; 0, I)^{1/2} with hexagonal proportions (ring gap = √3/2 × arc spacing, alternate rings staggered by half
// a step), which is what trained Gaussian codebooks converge to; Lloyd iterations then polish it.
//
// D8 mode (--d8): codebooks with the symmetry of the square (swap x/y, negate x, negate y; docs/FORMAT.md): 2^k / 8
// base points strictly inside the wedge 0 < y < x, trained by the same Lloyd step constrained to the symmetry: the
// Gaussian is integrated over the wedge only, each node goes to the nearest of all 8 images of the base, is mapped back
// into the wedge by that image's inverse transform, and each base point moves to the centroid of what it collected.
// Initialisation: rings of 8q points in half-step phase (q per wedge). Last, the base is rounded to a grid u·g (u = 1 …
// 255, g covering the largest coordinate), so that the integer path holds it exactly in bytes (train_d8).
//
// usage: qamw_gen_codebooks OUT_DIR [--d8] [K ...]
//   (default K = 4..12, writing lm2d_kKK.hpp per K; with --d8, K = 9..11, writing d8_kKK.hpp)
#include <qamw/codebooks/family.hpp>
#include <qamw/detail/hash.hpp>
#include "common/parallel.hpp"
#include <qamw/stages/codebook.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace {

constexpr double pi = 3.14159265358979323846;

struct point {
    double x, y;
};

/// The D8 transform T_s of docs/FORMAT.md (qamw::d8_transform).
point apply(int s, point p) {
    qamw::d8_transform(s, p.x, p.y);
    return p;
}

/// The inverse of apply(s, ·).
point unapply(int s, point p) {
    if (s & 1) p.x = -p.x;
    if (s & 2) p.y = -p.y;
    if (s & 4) std::swap(p.x, p.y);
    return p;
}

/// All 8 images of the base in code order: point s·n_b + b = T_s(base[b]).
std::vector<point> expand_d8(const std::vector<point>& base) {
    std::vector<point> out;
    for (int s = 0; s < 8; ++s)
        for (const point& p : base) out.push_back(apply(s, p));
    return out;
}

/// Rings of points with local density scale·exp(−ρ²/4)/(4π) (about `scale` points in all), at most `limit` of them.
/// The centre is one point (centre = 1) or a ring of `centre` points at arc spacing. With `wedge`, only the part of
/// each ring inside the wedge 0 < θ < π/4 (rings of 8q points, q in the wedge at half-step phase).
std::vector<point> rings(double scale, std::size_t limit, int centre, bool wedge = false) {
    std::vector<point> pts;
    auto spacing = [&](double rho) {  // hexagonal cell area (√3/2)·a² = 1/λ(ρ)
        double lambda = scale * std::exp(-rho * rho / 4) / (4 * pi);
        return std::sqrt(2 / (std::sqrt(3.0) * lambda));
    };
    double a0 = spacing(0);
    double rho = 0;
    int ring = 0;
    if (centre == 1) {
        pts.push_back({0, 0});
        rho = std::sqrt(3.0) / 2 * a0;
    } else {
        rho = a0 * centre / (2 * pi);
    }
    const double outer = std::sqrt(4 * std::log(2 * scale));  // beyond it the density holds under half a point
    while (pts.size() < limit && rho <= outer) {
        double a = spacing(rho);
        std::size_t m = wedge ? std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(2 * pi * rho / a / 8)))
                              : std::max<std::size_t>(3, static_cast<std::size_t>(std::lround(2 * pi * rho / a)));
        if (ring == 0 && centre > 1 && !wedge) m = static_cast<std::size_t>(centre);
        double phase = (ring % 2) * pi / m;
        for (std::size_t j = 0; j < m && pts.size() < limit; ++j) {
            double t = wedge ? (j + 0.5) * (pi / 4) / m : phase + 2 * pi * j / m;
            pts.push_back({rho * std::cos(t), rho * std::sin(t)});
        }
        ++ring;
        rho += std::sqrt(3.0) / 2 * spacing(rho + 0.5 * std::sqrt(3.0) / 2 * a);
    }
    return pts;
}

/// Ring initialisation with exactly n points: the density scale is bisected so that the rings hold about n points,
/// and the last ring is cut at n. With `wedge`, n base points in the wedge (rings of 8q points).
std::vector<point> initial(std::size_t n, int centre, bool wedge = false) {
    auto count = [&](double s) { return rings(s, 4 * n + 16, centre, wedge).size(); };
    double lo = 1, hi = (wedge ? 64.0 : 8.0) * n;  // the scale counts the whole plane: 8 wedges
    for (int it = 0; it < 100; ++it) {
        double mid = std::sqrt(lo * hi);
        (count(mid) < n ? lo : hi) = mid;
    }
    return rings(hi, n, centre, wedge);
}

/// Explicit ring counts (counts[0] may be 1: a centre point): radii at the middle of each ring's share of the
/// point density N(0, 2I), alternate rings staggered.
std::vector<point> ring_config(const std::vector<int>& counts, std::size_t n) {
    std::vector<point> pts;
    double before = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
        int m = counts[r];
        double f = (before + m / 2.0) / double(n);
        double rho = m == 1 ? 0 : std::sqrt(-4 * std::log(1 - f));
        for (int j = 0; j < m; ++j) {
            double t = (r % 2) * pi / m + 2 * pi * j / m;
            pts.push_back({rho * std::cos(t), rho * std::sin(t)});
        }
        before += m;
    }
    return pts;
}

/// Every split of n points into a centre (0 or 1 point) and two or three rings of non-decreasing size ≥ 3.
std::vector<std::vector<int>> ring_configs(int n) {
    std::vector<std::vector<int>> out;
    for (int c = 0; c <= 1; ++c)
        for (int a = 3; a <= n; ++a)
            for (int b = a; a + b <= n - c; ++b) {
                int rest = n - c - a - b;
                std::vector<int> head = c ? std::vector<int>{1} : std::vector<int>{};
                head.push_back(a), head.push_back(b);
                if (rest == 0) out.push_back(head);
                else if (rest >= b) head.push_back(rest), out.push_back(head);
            }
    return out;
}

/// Lloyd training on the integration grid. Plain (lm2d): the codebook is all n points. D8: the codebook is the n / 8
/// base points; the grid is integrated over the wedge y ≥ 0, x ≥ y only (nodes on the diagonal at half weight, as it
/// is shared by two wedges) and the error is scaled by 8.
struct trainer {
    std::size_t n;  // points of the full codebook
    bool d8;
    double step;
    std::vector<double> axis, weight;  // integration nodes on one axis and their 1D Gaussian weights × step

    trainer(std::size_t n_, double nodes_per_spacing, bool d8_ = false) : n(n_), d8(d8_) {
        step = std::sqrt(4 * pi / double(n)) / nodes_per_spacing;
        int half = static_cast<int>(std::ceil(7.5 / step));
        for (int i = -half; i < half; ++i) {
            double v = (i + 0.5) * step;
            axis.push_back(v);
            weight.push_back(std::exp(-v * v / 2) / std::sqrt(2 * pi) * step);
        }
    }

    /// One Lloyd step: moves every codeword to the centroid of its cell, or `relax` times as far (over-relaxation
    /// speeds up the slow collective modes of large codebooks); returns the MSE per coordinate before the step.
    double step_lloyd(std::vector<point>& cb, int threads, double relax = 1.0) {
        const std::vector<point> full = d8 ? expand_d8(cb) : cb;
        const std::size_t nb = cb.size();  // points that move: n, or the n / 8 base points
        std::vector<float> xs(n), ys(n);
        for (std::size_t i = 0; i < n; ++i) xs[i] = float(full[i].x), ys[i] = float(full[i].y);
        qamw::nearest_index index(xs.data(), ys.data(), n);
        const std::size_t rows = axis.size(), stripes = 64;
        struct acc {
            std::vector<double> w, sx, sy;
            double err = 0;
        };
        std::vector<acc> part(stripes);
        qamw::parallel_for(stripes, threads, [&](std::size_t s0, std::size_t s1) {
            for (std::size_t s = s0; s < s1; ++s) {
                acc& a = part[s];
                a.w.assign(nb, 0), a.sx.assign(nb, 0), a.sy.assign(nb, 0);
                for (std::size_t r = rows * s / stripes; r < rows * (s + 1) / stripes; ++r) {
                    double y = axis[r];
                    if (d8 && y < 0) continue;
                    for (std::size_t c = 0; c < rows; ++c) {
                        double x = axis[c];
                        if (x * x + y * y > 7.5 * 7.5 || (d8 && x < y)) continue;
                        double w = weight[r] * weight[c];
                        if (d8 && x == y) w *= 0.5;
                        std::uint32_t i = index.nearest(float(x), float(y));
                        point q = d8 ? unapply(int(i / nb), {x, y}) : point{x, y};
                        std::size_t b = i % nb;
                        a.w[b] += w, a.sx[b] += w * q.x, a.sy[b] += w * q.y;
                        a.err += w * ((x - xs[i]) * (x - xs[i]) + (y - ys[i]) * (y - ys[i]));
                    }
                }
            }
        });
        std::vector<double> w(nb, 0), sx(nb, 0), sy(nb, 0);
        double err = 0;
        for (const acc& a : part) {
            for (std::size_t i = 0; i < nb; ++i) w[i] += a.w[i], sx[i] += a.sx[i], sy[i] += a.sy[i];
            err += a.err;
        }
        for (std::size_t i = 0; i < nb; ++i)
            if (w[i] > 0) cb[i] = {cb[i].x + relax * (sx[i] / w[i] - cb[i].x), cb[i].y + relax * (sy[i] / w[i] - cb[i].y)};
        return d8 ? 8 * err / 2 : err / 2;
    }
};

/// Writes <family>_kKK.hpp: the table in code order (for d8 the full expanded table of n points) and its checksum.
void write_header(const std::string& dir, bool d8, int k, const std::vector<float>& xy, double ratio, int iterations,
                  double grid = 0) {
    std::uint64_t sum = qamw::detail::fnv1a64(xy.data(), xy.size() * sizeof(float));
    const char* family = d8 ? "d8" : "lm2d";
    char name[64];
    std::snprintf(name, sizeof name, "%s_k%02d.hpp", family, k);
    std::string path = dir + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) {
        std::perror(path.c_str());
        std::exit(1);
    }
    if (d8)
        std::fprintf(f,
                     "// Generated by tools/gen_codebooks.cpp: do not edit.\n"
                     "// D8-symmetric 2D Lloyd codebook for N(0, I2), k = %d bits per pair, %zu points = 8 images of %zu\n"
                     "// base points in 0 < y < x (docs/FORMAT.md: code c = s << (k - 3) | b is T_s(base[b])), %d\n"
                     "// constrained Lloyd iterations on the integration grid, then rounded to the grid u * %a\n"
                     "// (u = 1..255); MSE per coordinate / 2^-k there: %.4f. Points as (x, y) pairs, index order =\n"
                     "// code order. Checksum: FNV-1a 64 of the little-endian float32 bytes x0 y0 x1 y1 ...\n",
                     k, xy.size() / 2, xy.size() / 16, iterations, grid, ratio);
    else
        std::fprintf(f,
                     "// Generated by tools/gen_codebooks.cpp: do not edit.\n"
                     "// 2D Lloyd-Max codebook for N(0, I2), k = %d bits per pair, %zu points, %d Lloyd iterations on the\n"
                     "// integration grid; MSE per coordinate / 2^-k there: %.4f. Points as (x, y) pairs, index order =\n"
                     "// code order. Checksum: FNV-1a 64 of the little-endian float32 bytes x0 y0 x1 y1 ...\n",
                     k, xy.size() / 2, iterations, ratio);
    std::fprintf(f,
                 "#pragma once\n#include <cstdint>\n\nnamespace qamw::codebooks {\n\n"
                 "inline constexpr std::uint64_t %s_k%02d_checksum = 0x%016llxull;\n",
                 family, k, static_cast<unsigned long long>(sum));
    if (d8) std::fprintf(f, "inline constexpr float d8_k%02d_grid = %a;\n", k, grid);
    std::fprintf(f, "inline constexpr float %s_k%02d[%zu] = {\n", family, k, xy.size());
    for (std::size_t i = 0; i < xy.size(); i += 2) std::fprintf(f, "    %a, %a,\n", double(xy[i]), double(xy[i + 1]));
    std::fprintf(f, "};\n\n}  // namespace qamw::codebooks\n");
    std::fclose(f);
    std::printf("%s k=%2d  N=%5zu  ratio=%.4f  checksum=%016llx  -> %s\n", family, k, xy.size() / 2, ratio,
                static_cast<unsigned long long>(sum), path.c_str());
}

/// Code order of the points (lm2d) or base points (d8): by radius, then angle (rounded so that order does not hinge
/// on the last bits).
void sort_code_order(std::vector<point>& cb) {
    std::sort(cb.begin(), cb.end(), [](const point& a, const point& b) {
        double ra = std::round(std::hypot(a.x, a.y) * 1e6), rb = std::round(std::hypot(b.x, b.y) * 1e6);
        if (ra != rb) return ra < rb;
        return std::atan2(a.y, a.x) < std::atan2(b.y, b.x);
    });
}

/// Trains the D8 codebook of k bits per pair and writes d8_kKK.hpp. Same budget as lm2d of the same k.
void train_d8(const std::string& dir, int k) {
    const bool large = k >= 10;
    const int iterations = large ? 120 : 300, fine = large ? 20 : 0;
    const double relax = large ? 1.7 : 1.0;
    const std::size_t n = std::size_t{1} << k;
    trainer t(n, large ? 8.0 : 12.0, true);
    std::vector<point> base = initial(n / 8, 8, true);
    if (base.size() != n / 8) {
        std::fprintf(stderr, "d8 k=%d: the ring initialisation gave %zu base points, not %zu\n", k, base.size(), n / 8);
        std::exit(1);
    }
    double mse = 0;
    for (int it = 0; it < iterations; ++it) {
        mse = t.step_lloyd(base, 0, relax);
        if (it % 50 == 0) std::fprintf(stderr, "d8 k=%d it=%d ratio=%.5f\n", k, it, mse / std::ldexp(1.0, -k));
    }
    trainer f(n, 16.0, true);
    for (int it = 0; it < fine; ++it) mse = f.step_lloyd(base, 0);
    // The grid: base coordinates become integer multiples u·g, 1 ≤ u ≤ 255, g with an 8-bit mantissa so that every
    // u·g is exact in float (the integer path then holds the codebook exactly: kernels/int_format.hpp). g covers the
    // largest coordinate (a finer g with the outer points clamped measured worse at k = 11). Then Lloyd steps each
    // followed by the rounding; the best rounded codebook on the fine integration grid is kept.
    double top = 0;
    for (const point& p : base) top = std::max(top, p.x);
    int e = 0;
    std::frexp(top / 255, &e);
    const double g = std::ceil(std::ldexp(top / 255, 8 - e)) * std::ldexp(1.0, e - 8);
    auto snap = [&](std::vector<point> v) {
        for (point& p : v) {
            const double u = std::min(255.0, std::round(p.x / g)), w = std::max(1.0, std::min(std::round(p.y / g), u - 1));
            p = {u * g, w * g};
        }
        return v;
    };
    std::vector<point> best = snap(base), moving = base;
    const double unsnapped = mse;
    mse = f.step_lloyd(best, 0, 0.0);  // relax 0: measures only
    for (int it = 0; it < 15; ++it) {
        f.step_lloyd(moving, 0);
        moving = snap(moving);
        const double m = f.step_lloyd(moving, 0, 0.0);
        if (m < mse) mse = m, best = moving;
    }
    std::fprintf(stderr, "d8 k=%d grid %a: ratio %.5f off the grid, %.5f on it\n", k, g, unsnapped / std::ldexp(1.0, -k),
                 mse / std::ldexp(1.0, -k));
    base = best;
    sort_code_order(base);
    for (std::size_t i = 1; i < base.size(); ++i)
        if (base[i].x == base[i - 1].x && base[i].y == base[i - 1].y) {
            std::fprintf(stderr, "d8 k=%d: two base points on one grid point (%g, %g)\n", k, base[i].x, base[i].y);
            std::exit(1);
        }
    for (const point& p : base)
        if (!(float(p.y) > 0 && float(p.y) < float(p.x))) {
            std::fprintf(stderr, "d8 k=%d: base point (%g, %g) left the open wedge 0 < y < x\n", k, p.x, p.y);
            std::exit(1);
        }
    std::vector<float> xy;
    for (const point& p : expand_d8(base)) xy.push_back(float(p.x)), xy.push_back(float(p.y));
    write_header(dir, true, k, xy, mse / std::ldexp(1.0, -k), iterations, g);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR [--d8] [K ...]\n", argv[0]);
        return 2;
    }
    bool d8 = false;
    std::vector<int> ks;
    for (int i = 2; i < argc; ++i) {
        if (std::string(argv[i]) == "--d8") d8 = true;
        else ks.push_back(std::atoi(argv[i]));
    }
    if (d8) {
        if (ks.empty()) ks = {9, 10, 11};
        for (int k : ks) {
            if (k < 9 || k > 11) {
                std::fprintf(stderr, "codebook d8 exists for k = 9, 10, 11 (got %d)\n", k);
                return 2;
            }
            train_d8(argv[1], k);
        }
        return 0;
    }
    if (ks.empty())
        for (int k = 4; k <= 12; ++k) ks.push_back(k);
    for (int k : ks) {
        // Budget: the cost of a step grows with N. Up to k = 9: 300 steps on a 1/12-spacing grid. Above: 120
        // over-relaxed steps (×1.7, which speeds up the slow collective modes) on a 1/8-spacing grid, then plain
        // steps on a 1/16-spacing grid, which remove the centroid bias of the coarse grid (measured by Monte Carlo at
        // k = 11: 2.0308 → 2.0258 × 2^-k with 20 fine steps; k = 12 reached only 2.0301 with 20, so it gets 60).
        // k = 12 takes about 30 minutes on two idle cores.
        const bool large = k >= 10;
        const int iterations = large ? 120 : 300, fine = k == 12 ? 60 : large ? 20 : 0;
        const double relax = large ? 1.7 : 1.0;
        std::size_t n = std::size_t{1} << k;
        trainer t(n, k <= 9 ? 12.0 : 8.0);
        // Small codebooks have several distinct local optima: start from each centre arrangement (a point, or a
        // ring of 3..7), polish each briefly and keep the best. Large ones all converge to the same hexagonal bulk.
        std::vector<point> cb;
        double best = std::numeric_limits<double>::infinity();
        for (int centre = 1; centre <= (k <= 8 ? 7 : 1); ++centre) {
            if (centre == 2) continue;
            std::vector<point> c = initial(n, centre);
            double e = 0;
            for (int it = 0; it < 40; ++it) e = t.step_lloyd(c, 0);
            std::fprintf(stderr, "k=%d centre=%d ratio after 40 steps=%.5f\n", k, centre, e / std::ldexp(1.0, -k));
            if (e < best) best = e, cb = c;
        }
        if (k <= 5)
            for (const auto& counts : ring_configs(int(n))) {
                std::vector<point> c = ring_config(counts, n);
                double e = 0;
                for (int it = 0; it < 40; ++it) e = t.step_lloyd(c, 0);
                if (e < best) best = e, cb = c;
            }
        double mse = 0;
        for (int it = 0; it < iterations; ++it) {
            mse = t.step_lloyd(cb, 0, relax);
            if (it % 50 == 0) std::fprintf(stderr, "k=%d it=%d ratio=%.5f\n", k, it, mse / std::ldexp(1.0, -k));
        }
        if (fine > 0) {
            trainer f(n, 16.0);
            for (int it = 0; it < fine; ++it) {
                mse = f.step_lloyd(cb, 0);
                if (it % 10 == 0) std::fprintf(stderr, "k=%d fine it=%d ratio=%.5f\n", k, it, mse / std::ldexp(1.0, -k));
            }
        }
        sort_code_order(cb);
        std::vector<float> xy;
        for (auto& p : cb) xy.push_back(float(p.x)), xy.push_back(float(p.y));
        write_header(argv[1], false, k, xy, mse / std::ldexp(1.0, -k), iterations);
    }
}
