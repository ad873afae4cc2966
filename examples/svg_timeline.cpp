// SPDX-License-Identifier: MIT
// Hand-written SVG: a few rectangles, paths and text elements, coordinates to 0.1 unit.
#include "svg_timeline.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "svg_doc.hpp"
#include "svg_time_axis.hpp"

namespace demo {
namespace {

// The running sum of (time, +1 / -1) events, as a step function from t = 0. At equal times
// -1 sorts first.
std::vector<SvgStep> running_count(std::vector<std::pair<int64_t, int>> events) {
  std::sort(events.begin(), events.end());
  std::vector<SvgStep> out = {{0, 0}};
  int n = 0;
  for (const auto& [t, d] : events) {
    n += d;
    if (out.back().t_ns == t)
      out.back().value = n;
    else
      out.push_back({t, static_cast<double>(n)});
  }
  return out;
}

}  // namespace

std::vector<SvgStep> in_flight_steps(const std::vector<SvgSpan>& spans, int series) {
  std::vector<std::pair<int64_t, int>> events;
  for (const SvgSpan& s : spans) {
    if (series >= 0 && s.series != series) continue;
    events.emplace_back(s.start_ns, +1);
    events.emplace_back(s.end_ns, -1);
  }
  return running_count(std::move(events));
}

std::vector<SvgStep> window_count_steps(const std::vector<SvgSpan>& spans, int64_t window_ns) {
  // A grant at g counts on [g, g + window]; the fall is at g + window + 1 ns, so a grant
  // at exactly g + window still meets it, as in the limiter's closed span.
  std::vector<std::pair<int64_t, int>> events;
  for (const SvgSpan& s : spans) {
    events.emplace_back(s.start_ns, +1);
    events.emplace_back(s.start_ns + window_ns + 1, -1);
  }
  return running_count(std::move(events));
}

namespace {

using svg::add;
using svg::cross;
using svg::text;

constexpr double kWidth = 900, kHeight = 600;
constexpr double kLeft = 64, kRight = 876;    // the plot areas' x range
constexpr double kTopY0 = 96, kTopY1 = 300;   // top panel: in flight
constexpr double kBotY0 = 358, kBotY1 = 500;  // bottom panel: grants in the window
constexpr double kRugY0 = 508, kRugRow = 9;   // grant ticks, one row per series
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#17becf", "#9467bd", "#8c564b"};
constexpr const char* kTotal = "#222222";
constexpr const char* kLimit = "#555555";
constexpr const char* kAdaptive = "#2ca02c";
constexpr const char* kRed = "#d62728";
constexpr const char* kWindow = "#6a3d9a";

const char* colour(int series) {
  constexpr int n = sizeof kPalette / sizeof kPalette[0];
  return kPalette[((series % n) + n) % n];
}

struct Axis {  // a linear map from values to user units
  double d0, d1, p0, p1;
  double operator()(double v) const { return p0 + (v - d0) / (d1 - d0) * (p1 - p0); }
};

// A step function as a path of horizontal and vertical moves, up to t_end.
std::string step_path(const std::vector<SvgStep>& steps, const TimeAxis& x, const Axis& y,
                      int64_t t_end) {
  std::string d;
  for (size_t i = 0; i < steps.size() && steps[i].t_ns <= t_end; ++i) {
    const double px = x(static_cast<double>(steps[i].t_ns) * 1e-9);
    const double py = y(steps[i].value);
    if (i == 0)
      add(d, "M%.1f %.1f", px, py);
    else
      add(d, "H%.1fV%.1f", px, py);
  }
  add(d, "H%.1f", x(static_cast<double>(t_end) * 1e-9));
  return d;
}

void path(std::string& out, const std::string& d, const char* stroke, double width,
          const char* dash = nullptr) {
  out += "<path d=\"" + d + "\"";  // d may be long: add() is for short pieces
  add(out, " fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"", stroke, width);
  if (dash) add(out, " stroke-dasharray=\"%s\"", dash);
  out += "/>\n";
}

void hline(std::string& out, double py, const char* stroke, double width, const char* dash) {
  add(out, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"", kLeft, py, kRight,
      stroke, width);
  if (dash) add(out, " stroke-dasharray=\"%s\"", dash);
  out += "/>\n";
}

// Legend entries laid out left to right from x, on one row at baseline y.
struct LegendItem {
  enum Kind { kLine, kDashed, kCross, kTick } kind;
  const char* colour;
  std::string label;
};

void legend(std::string& out, double px, double py, const std::vector<LegendItem>& items) {
  for (const LegendItem& it : items) {
    const double my = py - 4;
    switch (it.kind) {
      case LegendItem::kLine:
      case LegendItem::kDashed:
        add(out, "<path d=\"M%.1f %.1fh22\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", px, my,
            it.colour, it.kind == LegendItem::kDashed ? " stroke-dasharray=\"6 4\"" : "");
        break;
      case LegendItem::kCross:
        add(out, "<g stroke=\"%s\" stroke-width=\"1.6\">", it.colour);
        cross(out, px + 11, my, 4);
        out += "</g>\n";
        break;
      case LegendItem::kTick:
        add(out, "<path d=\"M%.1f %.1fv10M%.1f %.1fv10\" stroke=\"%s\" stroke-width=\"1.2\"/>\n",
            px + 8, my - 5, px + 14, my - 5, it.colour);
        break;
    }
    text(out, px + 27, py, "start", 12, it.label);
    px += 27 + 6.7 * static_cast<double>(it.label.size()) + 18;  // ~6.7 units a glyph at 12
  }
}

// Horizontal grid lines and labels of a value axis.
void value_axis(std::string& out, const Axis& y, double step, const std::string& label) {
  const int dec = decimals(step);
  for (double v = 0; v <= y.d1 + 1e-9; v += step) {
    const double py = y(v);
    add(out, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#e6e6e6\"/>\n", kLeft, py, kRight);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", dec, v);
    text(out, kLeft - 6, py + 4, "end", 11, buf);
  }
  const double mid = (y.p0 + y.p1) / 2;
  char rot[64];
  std::snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\"", 16.0, mid);
  text(out, 16, mid, "middle", 12, label, rot);
}

std::string seconds_label(int64_t ns) {
  const double s = static_cast<double>(ns) * 1e-9;
  char buf[32];
  std::snprintf(buf, sizeof buf,
                s >= 10  ? "%.0f s"
                : s >= 1 ? "%.3g s"
                         : "%.3g ms",
                s >= 1 ? s : s * 1e3);
  return buf;
}

}  // namespace

std::string render_timeline_svg(const SvgTimeline& t) {
  std::string out;
  svg::begin(out, kWidth, kHeight, t.title, t.subtitle, t.pass);
  text(out, kWidth / 2, 46, "middle", 13, t.subtitle,
       t.pass ? " fill=\"#1a7f37\"" : " fill=\"#d62728\" font-weight=\"bold\"");

  // Time axis: linear over [0, end], with long idle stretches cut short.
  std::vector<std::pair<double, double>> busy;
  for (const SvgSpan& s : t.spans)
    busy.emplace_back(static_cast<double>(s.start_ns) * 1e-9, static_cast<double>(s.end_ns) * 1e-9);
  const TimeAxis x(busy, static_cast<double>(t.end_ns) * 1e-9, kLeft, kRight);
  const auto t_end = static_cast<int64_t>(std::llround(x.end() * 1e9));

  // ---- top panel: in flight ------------------------------------------------------------
  const std::vector<SvgStep> total = in_flight_steps(t.spans, -1);
  double top_max = std::max<double>(t.max_concurrent, t.hidden_limit);
  for (const SvgStep& s : total) top_max = std::max(top_max, s.value);
  for (const SvgStep& s : t.adaptive_limit) top_max = std::max(top_max, s.value);
  const double ystep = std::max(1.0, nice_step(top_max + 1, 6));
  const Axis yt{0, std::ceil((top_max + 1) / ystep) * ystep, kTopY1, kTopY0};
  std::vector<LegendItem> top_legend;

  value_axis(out, yt, ystep, "in flight");
  const bool several = t.series.size() > 1;
  if (several) {
    // The total under the services' lines: a light area with a dark edge.
    std::string area = step_path(total, x, yt, t_end);
    add(area, "V%.1fH%.1fZ", kTopY1, kLeft);
    out += "<path d=\"" + area + "\" fill=\"#d9d9d9\" fill-opacity=\"0.6\"/>\n";
    path(out, step_path(total, x, yt, t_end), kTotal, 1.6);
    top_legend.push_back({LegendItem::kLine, kTotal, "total"});
  }
  for (size_t s = 0; s < t.series.size(); ++s) {
    const int si = static_cast<int>(s);
    path(out, step_path(in_flight_steps(t.spans, si), x, yt, t_end), colour(si),
         several ? 1.3 : 1.6);
    top_legend.push_back({LegendItem::kLine, colour(si), t.series[s]});
  }
  if (!t.adaptive_limit.empty()) {
    path(out, step_path(t.adaptive_limit, x, yt, t_end), kAdaptive, 2.2);
    top_legend.push_back({LegendItem::kLine, kAdaptive, "adaptive limit"});
  }
  if (t.max_concurrent > 0) {
    hline(out, yt(t.max_concurrent), kLimit, 1.5, "6 4");
    top_legend.push_back(
        {LegendItem::kDashed, kLimit, "max_concurrent " + std::to_string(t.max_concurrent)});
  }
  if (t.hidden_limit > 0) {
    hline(out, yt(t.hidden_limit), kRed, 1.5, "3 3");
    top_legend.push_back(
        {LegendItem::kDashed, kRed, "hidden limit " + std::to_string(t.hidden_limit)});
  }
  size_t rejected = 0;
  for (const SvgSpan& s : t.spans) rejected += s.rejected;
  if (rejected > 0) {
    // A cross where the 429 came back, at the count in flight just before it ended.
    add(out, "<g stroke=\"%s\" stroke-width=\"1.6\">\n", kRed);
    for (const SvgSpan& s : t.spans) {
      if (!s.rejected) continue;
      auto it = std::upper_bound(total.begin(), total.end(), s.end_ns - 1,
                                 [](int64_t v, const SvgStep& st) { return v < st.t_ns; });
      const double n = it == total.begin() ? 0 : std::prev(it)->value;
      cross(out, x(static_cast<double>(s.end_ns) * 1e-9), yt(n), 4);
    }
    out += "</g>\n";
    top_legend.push_back({LegendItem::kCross, kRed, "429 (" + std::to_string(rejected) + ")"});
  }
  legend(out, kLeft, 78, top_legend);

  // ---- bottom panel: grants in the sliding window ---------------------------------------
  const std::vector<SvgStep> win = window_count_steps(t.spans, t.window_ns);
  double bot_max = static_cast<double>(t.max_per_window);
  for (const SvgStep& s : win) bot_max = std::max(bot_max, s.value);
  const double bstep = std::max(1.0, nice_step(bot_max * 1.1 + 1, 4));
  const Axis yb{0, std::ceil((bot_max * 1.1 + 1) / bstep) * bstep, kBotY1, kBotY0};
  value_axis(out, yb, bstep, "grants in window");
  path(out, step_path(win, x, yb, t_end), kWindow, 1.8);
  std::vector<LegendItem> bot_legend = {
      {LegendItem::kLine, kWindow, "grants in the last " + seconds_label(t.window_ns)}};
  if (t.max_per_window > 0) {
    hline(out, yb(static_cast<double>(t.max_per_window)), kLimit, 1.5, "6 4");
    bot_legend.push_back(
        {LegendItem::kDashed, kLimit, "max_per_window " + std::to_string(t.max_per_window)});
  }

  // Grant ticks, a row per series, and the 429s' crosses in a row of their own.
  const size_t rows = std::max<size_t>(t.series.size(), 1) + (rejected > 0);
  for (size_t s = 0; s < t.series.size(); ++s) {
    std::string d;
    const double y0 = kRugY0 + kRugRow * static_cast<double>(s);
    for (const SvgSpan& sp : t.spans)
      if (sp.series == static_cast<int>(s))
        add(d, "M%.1f %.1fv%.1f", x(static_cast<double>(sp.start_ns) * 1e-9), y0, kRugRow - 2);
    if (!d.empty()) path(out, d, colour(static_cast<int>(s)), 1.0);
  }
  if (rejected > 0) {
    const double yc = kRugY0 + kRugRow * static_cast<double>(rows - 1) + kRugRow / 2 - 1;
    add(out, "<g stroke=\"%s\" stroke-width=\"1.2\">\n", kRed);
    for (const SvgSpan& sp : t.spans)
      if (sp.rejected) cross(out, x(static_cast<double>(sp.end_ns) * 1e-9), yc, 3);
    out += "</g>\n";
  }
  bot_legend.push_back({LegendItem::kTick, kPalette[0],
                        several ? "grants (ticks, a row per service)" : "grants (ticks)"});
  legend(out, kLeft, 340, bot_legend);

  // ---- time axis, frames -----------------------------------------------------------------
  const double rug_end = kRugY0 + kRugRow * static_cast<double>(rows);
  for (const TimeTick& tick : x.ticks()) {
    add(out, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fV%.1f\" stroke=\"#ececec\"/>\n", tick.px, kTopY0,
        kTopY1, tick.px, kBotY0, kBotY1);
    add(out, "<path d=\"M%.1f %.1fv5\" stroke=\"#222222\"/>\n", tick.px, rug_end);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", tick.decimals, tick.t);
    text(out, tick.px, rug_end + 18, "middle", 11, buf);
  }
  for (const TimePiece& pc : x.pieces()) {
    if (!pc.cut) continue;
    // The cut stretch: shaded in both panels, its length written down the top one, and
    // the time axis broken.
    for (const auto& [y0, y1] : {std::pair{kTopY0, kTopY1}, std::pair{kBotY0, kBotY1}})
      add(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f3f3f3\"/>\n",
          pc.p0, y0, pc.p1 - pc.p0, y1 - y0);
    const double mid = (pc.p0 + pc.p1) / 2;
    char rot[64];
    std::snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\" fill=\"#666666\"", mid + 4,
                  (kTopY0 + kTopY1) / 2);
    text(out, mid + 4, (kTopY0 + kTopY1) / 2, "middle", 11,
         "axis cut: " + seconds_label(std::llround((pc.t1 - pc.t0) * 1e9)), rot);
    add(out,
        "<path d=\"M%.1f %.1fl6 -12M%.1f %.1fl6 -12\" stroke=\"#222222\" stroke-width=\"1.2\"/>\n",
        pc.p0 + 6, rug_end + 6, pc.p1 - 12, rug_end + 6);
  }
  text(out, (kLeft + kRight) / 2, rug_end + 38, "middle", 12, "time since the start (s)");
  for (const auto& [y0, y1] : {std::pair{kTopY0, kTopY1}, std::pair{kBotY0, kBotY1}})
    add(out,
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
        "stroke=\"#888888\"/>\n",
        kLeft, y0, kRight - kLeft, y1 - y0);
  add(out, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#888888\"/>\n", kLeft, rug_end, kRight);
  svg::end(out);
  return out;
}

bool write_timeline_svg(const SvgTimeline& t, const std::string& path, std::string* error) {
  const std::string doc = render_timeline_svg(t);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  const bool wrote = std::fwrite(doc.data(), 1, doc.size(), f) == doc.size();
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    *error = path + ": write failed";
    return false;
  }
  return true;
}

}  // namespace demo
