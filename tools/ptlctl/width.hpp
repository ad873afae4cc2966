// SPDX-License-Identifier: MIT
// How many terminal columns a UTF-8 string takes, so that tables line up for names like
// "überlimit" or "限流器". Independent of the locale: scripts run ptlctl with LC_ALL=C, where
// wcwidth() counts nothing, and the names are UTF-8 whatever the locale says.
#pragma once

#include <cstddef>
#include <string_view>

namespace ptlctl {

// Columns of `text`: 2 for East Asian wide and fullwidth code points (CJK, Hangul, kana,
// fullwidth forms, most emoji), 0 for combining marks and zero-width joiners, 1 otherwise.
// A byte that is not valid UTF-8 counts as one column, as terminals show it as one
// replacement character.
size_t display_width(std::string_view text);

}  // namespace ptlctl
