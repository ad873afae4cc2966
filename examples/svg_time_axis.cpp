// SPDX-License-Identifier: MIT
#include "svg_time_axis.hpp"

#include <algorithm>
#include <cmath>

namespace demo {
namespace {
constexpr double kCutWidth = 30;        // user units a cut stretch takes
constexpr double kCutShare = 0.1;       // gaps longer than this share of the run are cut
constexpr double kMinPieceShare = 0.2;  // no uncut piece narrower than this share
constexpr double kTickSpacing = 70;     // user units between time ticks, about
}  // namespace

double nice_step(double range, int ticks) {
  if (!(range > 0) || ticks < 1) return 1;
  const double raw = range / ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag * (1 + 1e-9)) return m * mag;
  return 10 * mag;
}

int decimals(double step) {
  return step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
}

TimeAxis::TimeAxis(std::vector<std::pair<double, double>> busy, double end_s, double p0,
                   double p1) {
  std::sort(busy.begin(), busy.end());
  std::vector<std::pair<double, double>> merged;
  for (const auto& b : busy) {
    if (!merged.empty() && b.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, b.second);
    else
      merged.push_back(b);
  }
  double len = std::max(end_s, 1e-9);
  if (!merged.empty()) len = std::max(len, merged.back().second);

  // Busy stretches between the cuts: [0, first cut), ..., (last cut, len].
  std::vector<std::pair<double, double>> segs = {{0, len}};
  for (size_t i = 1; i < merged.size(); ++i) {
    const double g0 = merged[i - 1].second, g1 = merged[i].first;
    if (g1 - g0 <= kCutShare * len) continue;
    segs.back().second = g0;
    segs.push_back({g1, len});
  }
  if (segs.size() == 1) {  // one linear piece, ending on a round value
    const double step = nice_step(len, 10);
    pieces_.push_back({0, std::ceil(len / step - 1e-9) * step, p0, p1, false});
    return;
  }
  // Each busy stretch reaches a little into its neighbouring cuts, so its edges show.
  const std::vector<std::pair<double, double>> bare = segs;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    const double gap = bare[i + 1].first - bare[i].second;
    segs[i].second += std::min(0.1 * (bare[i].second - bare[i].first), 0.2 * gap);
    segs[i + 1].first -= std::min(0.1 * (bare[i + 1].second - bare[i + 1].first), 0.2 * gap);
  }
  // Width in proportion to duration, but none narrower than kMinPieceShare.
  double total = 0;
  for (const auto& s : segs) total += s.second - s.first;
  std::vector<double> share;
  double sum = 0;
  for (const auto& s : segs) {
    share.push_back(std::max((s.second - s.first) / total, kMinPieceShare));
    sum += share.back();
  }
  const double width = (p1 - p0) - kCutWidth * static_cast<double>(segs.size() - 1);
  double p = p0;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) {
      pieces_.push_back({segs[i - 1].second, segs[i].first, p, p + kCutWidth, true});
      p += kCutWidth;
    }
    const double w = width * share[i] / sum;
    pieces_.push_back({segs[i].first, segs[i].second, p, p + w, false});
    p += w;
  }
}

double TimeAxis::operator()(double t) const {
  if (t <= pieces_.front().t0) return pieces_.front().p0;
  for (const TimePiece& pc : pieces_)
    if (t <= pc.t1) return pc.p0 + (t - pc.t0) / (pc.t1 - pc.t0) * (pc.p1 - pc.p0);
  return pieces_.back().p1;
}

std::vector<TimeTick> TimeAxis::ticks() const {
  std::vector<TimeTick> out;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const TimePiece& pc = pieces_[i];
    if (pc.cut) continue;
    const int n = std::max(2, static_cast<int>((pc.p1 - pc.p0) / kTickSpacing));
    const double step = nice_step(pc.t1 - pc.t0, n);
    // Keep labels clear of a neighbouring cut, where the next piece's labels begin.
    const double lo = pc.p0 + (i > 0 ? 16 : 0), hi = pc.p1 - (i + 1 < pieces_.size() ? 16 : 0);
    for (double k = std::ceil(pc.t0 / step - 1e-9);; k += 1) {
      double t = k * step;
      if (t == 0) t = 0;  // not -0: it would print as "-0.00"
      if (t > pc.t1 + 1e-9 * step) break;
      const double px = (*this)(t);
      if (px >= lo - 1e-6 && px <= hi + 1e-6) out.push_back({t, px, decimals(step)});
    }
  }
  return out;
}

}  // namespace demo
