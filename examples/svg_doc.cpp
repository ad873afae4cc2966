// SPDX-License-Identifier: MIT
#include "svg_doc.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace demo::svg {

void add(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

std::string escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 (tab and newline are, as spaces).
        out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

void text(std::string& out, double x, double y, const char* anchor, int size, const std::string& s,
          const char* extra) {
  add(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size,
      extra);
  out += escaped(s) + "</text>\n";
}

void cross(std::string& out, double x, double y, double r) {
  add(out, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\"/>\n", x - r, y - r, x + r, y + r,
      x - r, y + r, x + r, y - r);
}

void begin(std::string& out, double width, double height, const std::string& title,
           const std::string& subtitle, bool pass) {
  constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";
  add(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  add(out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\" fill=\"#222222\">\n",
      width, height, width, height, kFont);
  add(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
  text(out, width / 2, 24, "middle", 16, title, " font-weight=\"bold\"");
  text(out, width / 2, 46, "middle", 13, subtitle,
       pass ? " fill=\"#1a7f37\"" : " fill=\"#d62728\" font-weight=\"bold\"");
}

void end(std::string& out) {
  out += "</svg>\n";
}

}  // namespace demo::svg
