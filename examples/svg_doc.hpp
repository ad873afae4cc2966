// SPDX-License-Identifier: MIT
// The pieces every picture of the demo is written with: a standalone SVG document of
// hand-written text (no dependencies), so that the same record always gives the same bytes.
#pragma once

#include <string>

namespace demo::svg {

// printf into a std::string (short pieces: at most 511 bytes each).
__attribute__((format(printf, 2, 3))) void add(std::string& out, const char* fmt, ...);

// s as XML text: markup characters escaped; control characters (not allowed in XML 1.0)
// become spaces.
std::string escaped(const std::string& s);

// A line of text at (x, y); anchor is start, middle or end; extra holds more attributes.
void text(std::string& out, double x, double y, const char* anchor, int size, const std::string& s,
          const char* extra = "");

// An X of half-width r centred on (x, y), in the current stroke.
void cross(std::string& out, double x, double y, double r);

// The document's opening: the XML declaration, the <svg> element, a white background, and
// the title and subtitle centred on top (the subtitle green if pass, else bold red).
void begin(std::string& out, double width, double height, const std::string& title,
           const std::string& subtitle, bool pass);
// The document's closing tag.
void end(std::string& out);

}  // namespace demo::svg
