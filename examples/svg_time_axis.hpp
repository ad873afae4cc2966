// SPDX-License-Identifier: MIT
// The time axis of the timeline picture: linear, except that long idle stretches are cut
// down to a narrow band, so a run that bursts, waits for its window and bursts again still
// shows both bursts at a readable scale.
#pragma once

#include <utility>
#include <vector>

namespace demo {

// 1, 2 or 5 times a power of ten, so that `range` holds about `ticks` steps.
double nice_step(double range, int ticks);
// Decimals that print every multiple of a nice_step exactly.
int decimals(double step);

// A stretch of time [t0, t1] (s) drawn over [p0, p1] (user units); a cut one is compressed.
struct TimePiece {
  double t0 = 0, t1 = 0;
  double p0 = 0, p1 = 0;
  bool cut = false;
};

struct TimeTick {
  double t = 0;   // seconds
  double px = 0;  // user units
  int decimals = 0;
};

class TimeAxis {
 public:
  // busy: the [start, end] intervals (s) when something happened; a gap between them longer
  // than a tenth of the run is cut. The axis covers [0, end_s] over [p0, p1].
  TimeAxis(std::vector<std::pair<double, double>> busy, double end_s, double p0, double p1);

  // Where time t (s) is drawn; clamped to the axis.
  double operator()(double t) const;
  double end() const { return pieces_.back().t1; }
  const std::vector<TimePiece>& pieces() const { return pieces_; }
  // Labelled ticks: about one per 70 units, on round values, per uncut piece.
  std::vector<TimeTick> ticks() const;

 private:
  std::vector<TimePiece> pieces_;
};

}  // namespace demo
