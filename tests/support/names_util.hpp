// SPDX-License-Identifier: MIT
// Limiter names that the C ABI must refuse (not 1 to 255 bytes of valid UTF-8) and names
// it must accept, edge cases included.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace ptl_test {

inline const std::vector<std::string>& bad_names() {
  static const std::vector<std::string> names = {
      "",                                  // empty
      std::string(256, 'a'),               // 256 bytes
      std::string(254, 'a') + "\xC3\xA9",  // 256 bytes of valid UTF-8
      "\xC0\xAF",                          // overlong '/'
      "\xC1\xBF",                          // overlong 2-byte
      "\xE0\x80\xAF",                      // overlong 3-byte
      "\xE0\x9F\xBF",                      // overlong 3-byte (U+07FF)
      "\xF0\x80\x80\xAF",                  // overlong 4-byte
      "\xF0\x8F\xBF\xBF",                  // overlong 4-byte (U+FFFF)
      "a\xED\xA0\x80",                     // U+D800 (surrogate)
      "\xED\xBF\xBF",                      // U+DFFF (surrogate)
      "\xED\xA0\xBD\xED\xB8\x80",          // CESU-8 surrogate pair
      "\xF4\x90\x80\x80",                  // U+110000
      "\xF5\x80\x80\x80",                  // lead byte F5
      "\xF7\xBF\xBF\xBF",                  // U+1FFFFF
      "\xF8\x88\x80\x80\x80",              // 5-byte form
      "\xFC\x84\x80\x80\x80\x80",          // 6-byte form
      "\xFE",                              // never valid
      "\xFF",                              // never valid
      "\x80",                              // lone continuation byte
      "abc\xBF",                           // trailing lone continuation
      "\xC3",                              // truncated 2-byte
      "x\xE2\x82",                         // truncated 3-byte
      "a\xF0\x9F\x98",                     // truncated 4-byte
      "\xE2\x28\xA1",                      // bad continuation
      "\xC3\x28",                          // bad continuation
  };
  return names;
}

inline const std::vector<std::string>& good_names() {
  static const std::vector<std::string> names = {
      "a",
      std::string(255, 'z'),
      std::string(253, 'b') + "\xC3\xA9",          // exactly 255 bytes, ends in a 2-byte char
      std::string(251, 'c') + "\xF0\x9F\x98\x80",  // exactly 255 bytes, ends in a 4-byte char
      "openai/gpt-4o mini:eu",
      "\xC3\xA9t\xC3\xA9",  // été
      "\xE2\x82\xAC",       // €
      "\xED\x9F\xBF",       // U+D7FF (last before the surrogates)
      "\xEE\x80\x80",       // U+E000 (first after the surrogates)
      "\xEF\xBF\xBF",       // U+FFFF
      "\xF4\x8F\xBF\xBF",   // U+10FFFF
      "\x7F",               // DEL is valid UTF-8
  };
  return names;
}

// s with bytes outside printable ASCII as \xNN, cut to 40 bytes, for messages.
inline std::string printable(const std::string& s) {
  std::string out;
  char buf[8];
  for (unsigned char c : s.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace ptl_test
