// SPDX-License-Identifier: MIT
// Hand-written SVG in the style of svg_timeline.cpp (same palette, fonts and sizes).
#include "svg_usage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <tuple>

#include "svg_doc.hpp"
#include "svg_time_axis.hpp"

namespace demo {

std::vector<UsageStep> usage_steps(const std::vector<MockProvider::Entry>& log, int64_t window_ns,
                                   int hidden_source) {
  // (time, sign, tokens, hidden): a call counts on [t, t + window], so it leaves at
  // t + window + 1 ns; at equal times the leaving sort first.
  std::vector<std::tuple<int64_t, int, uint64_t, bool>> ev;
  for (const auto& e : log) {
    if (e.refused) continue;
    const bool hidden = e.source == hidden_source;
    ev.emplace_back(e.t_ns, +1, e.tokens, hidden);
    ev.emplace_back(e.t_ns + window_ns + 1, -1, e.tokens, hidden);
  }
  std::sort(ev.begin(), ev.end());
  std::vector<UsageStep> out = {{0, 0, 0, 0}};
  UsageStep cur;
  for (const auto& [t, sign, tokens, hidden] : ev) {
    cur.t_ns = t;
    cur.requests = sign > 0 ? cur.requests + 1 : cur.requests - 1;
    cur.tokens = sign > 0 ? cur.tokens + tokens : cur.tokens - tokens;
    if (hidden)
      cur.hidden_tokens = sign > 0 ? cur.hidden_tokens + tokens : cur.hidden_tokens - tokens;
    if (out.back().t_ns == t)
      out.back() = cur;
    else
      out.push_back(cur);
  }
  return out;
}

namespace {

using svg::add;
using svg::cross;
using svg::text;

constexpr double kWidth = 900, kHeight = 570;
constexpr double kLeft = 64, kRight = 876;
constexpr double kPanelY0[] = {104, 326}, kPanelH = 180;  // two panels
constexpr double kTop = 1.1;                              // the y axis: 0..110% of max
constexpr const char* kTokens = "#6a3d9a";
constexpr const char* kRequests = "#17becf";
constexpr const char* kHidden = "#ff7f0e";
constexpr const char* kLimit = "#555555";
constexpr const char* kRed = "#d62728";

struct Panel {
  double y0, y1;  // top, bottom
  double y(double share) const { return y1 - std::min(share, kTop) / kTop * (y1 - y0); }
};

// A step function of one value (a share of max) as a path, up to the axis' end.
template <class F>
std::string step_path(const std::vector<UsageStep>& st, const TimeAxis& x, const Panel& p,
                      F value) {
  std::string d;
  for (size_t i = 0; i < st.size(); ++i) {
    const double px = x(static_cast<double>(st[i].t_ns) * 1e-9), py = p.y(value(st[i]));
    if (i == 0)
      add(d, "M%.1f %.1f", px, py);
    else
      add(d, "H%.1fV%.1f", px, py);
  }
  add(d, "H%.1f", kRight);
  return d;
}

}  // namespace

std::string render_usage_svg(const UsagePicture& pic) {
  std::string out;
  svg::begin(out, kWidth, kHeight, pic.title, pic.subtitle, pic.pass);
  text(out, kWidth / 2, 46, "middle", 13, pic.subtitle,
       pic.pass ? " fill=\"#1a7f37\"" : " fill=\"#d62728\" font-weight=\"bold\"");

  // Legend, one row.
  double lx = kLeft;
  const auto legend = [&](const char* what, const char* colour, const std::string& label) {
    const double my = 68;
    if (std::string(what) == "area")
      add(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"9\" fill=\"%s\" "
          "fill-opacity=\"0.35\"/>\n",
          lx, my - 4.5, colour);
    else if (std::string(what) == "cross")
      add(out, "<g stroke=\"%s\" stroke-width=\"1.6\"><path d=\"M%.1f %.1fl8 8m0 -8l-8 8\"/></g>\n",
          colour, lx + 7, my - 4);
    else
      add(out, "<path d=\"M%.1f %.1fh22\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", lx, my, colour,
          std::string(what) == "dashed" ? " stroke-dasharray=\"6 4\"" : "");
    text(out, lx + 27, my + 4, "start", 12, label);
    lx += 27 + 6.7 * static_cast<double>(label.size()) + 18;
  };
  char buf[256];
  legend("line", kTokens, "tokens in the window");
  legend("area", kHidden, "the third consumer's tokens");
  legend("line", kRequests, "requests in the window");
  std::snprintf(buf, sizeof buf, "max: %llu requests, %llu tokens",
                static_cast<unsigned long long>(pic.max_requests),
                static_cast<unsigned long long>(pic.max_tokens));
  legend("dashed", kLimit, buf);
  legend("cross", kRed, "429");

  const double end_s = static_cast<double>(pic.end_ns) * 1e-9;
  const TimeAxis x({{0.0, end_s}}, end_s, kLeft, kRight);  // one busy stretch: never cut
  const auto mt = static_cast<double>(pic.max_tokens), mr = static_cast<double>(pic.max_requests);
  for (size_t k = 0; k < pic.panels.size() && k < 2; ++k) {
    const UsagePanel& up = pic.panels[k];
    const Panel p{kPanelY0[k], kPanelY0[k] + kPanelH};
    text(out, kLeft, p.y0 - 7, "start", 13, up.label, " font-weight=\"bold\"");
    for (int pct = 0; pct <= 100; pct += 25) {
      const double py = p.y(pct / 100.0);
      add(out, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#e6e6e6\"/>\n", kLeft, py, kRight);
      std::snprintf(buf, sizeof buf, "%d%%", pct);
      text(out, kLeft - 6, py + 4, "end", 11, buf);
    }
    for (const TimeTick& tick : x.ticks())
      add(out, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"#ececec\"/>\n", tick.px, p.y0, p.y1);
    const std::vector<UsageStep> st = usage_steps(up.log, pic.window_ns, up.hidden_source);
    // The third consumer's part: between the services' tokens and everyone's.
    std::string area =
        step_path(st, x, p, [&](const UsageStep& s) { return static_cast<double>(s.tokens) / mt; });
    for (size_t i = st.size(); i-- > 0;) {
      const double px = x(static_cast<double>(st[i].t_ns) * 1e-9);
      const double py = p.y(static_cast<double>(st[i].tokens - st[i].hidden_tokens) / mt);
      add(area, "V%.1fH%.1f", py, px);
    }
    out += "<path d=\"" + area + "Z\" fill=\"" + kHidden + "\" fill-opacity=\"0.35\"/>\n";
    add(out,
        "<path d=\"M%.1f %.1fH%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
        "stroke-dasharray=\"6 4\"/>\n",
        kLeft, p.y(1.0), kRight, kLimit);
    out += "<path d=\"" +
           step_path(st, x, p,
                     [&](const UsageStep& s) { return static_cast<double>(s.requests) / mr; }) +
           "\" fill=\"none\" stroke=\"" + kRequests + "\" stroke-width=\"1.3\"/>\n";
    out += "<path d=\"" +
           step_path(st, x, p,
                     [&](const UsageStep& s) { return static_cast<double>(s.tokens) / mt; }) +
           "\" fill=\"none\" stroke=\"" + kTokens + "\" stroke-width=\"1.8\"/>\n";
    // A cross per 429 at the top of the panel: the services' red, the third consumer's grey.
    for (const bool hidden : {false, true}) {
      add(out, "<g stroke=\"%s\" stroke-width=\"1.4\">\n", hidden ? "#999999" : kRed);
      for (const auto& e : up.log)
        if (e.refused && (e.source == up.hidden_source) == hidden)
          cross(out, x(static_cast<double>(e.t_ns) * 1e-9), p.y0 + (hidden ? 14 : 6), 3.5);
      out += "</g>\n";
    }
    add(out,
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
        "stroke=\"#888888\"/>\n",
        kLeft, p.y0, kRight - kLeft, p.y1 - p.y0);
    const double mid = (p.y0 + p.y1) / 2;
    std::snprintf(buf, sizeof buf, " transform=\"rotate(-90 %.1f %.1f)\"", 16.0, mid);
    text(out, 16, mid, "middle", 12, "of max, in the window", buf);
  }
  const double yb = kPanelY0[1] + kPanelH;
  for (const TimeTick& tick : x.ticks()) {
    add(out, "<path d=\"M%.1f %.1fv5\" stroke=\"#222222\"/>\n", tick.px, yb);
    std::snprintf(buf, sizeof buf, "%.*f", tick.decimals, tick.t);
    text(out, tick.px, yb + 18, "middle", 11, buf);
  }
  std::snprintf(buf, sizeof buf,
                "time since the start (s); the window is %.3g s; grey crosses: "
                "the third consumer's 429s",
                static_cast<double>(pic.window_ns) * 1e-9);
  text(out, (kLeft + kRight) / 2, yb + 38, "middle", 12, buf);
  svg::end(out);
  return out;
}

}  // namespace demo
