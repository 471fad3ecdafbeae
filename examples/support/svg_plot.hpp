#pragma once

// A small SVG line-plot writer for the memory demo: a linear x axis in seconds, a log-scale
// y axis in bytes with ticks labelled 1 MB, 10 MB, 100 MB, 1 GB, ..., a legend placed in the
// emptiest corner, and dashed horizontal reference lines (the bounds). Enough to reproduce
// the figures of joblib's example (matplotlib's semilogy) without a plotting dependency.
//
// Not a general plotting library; the demo's own helper. No threads, no global state.

#include <algorithm>  // std::max, std::min, std::clamp, std::min_element
#include <array>      // std::array: the legend's candidate corners
#include <cmath>      // std::log10, std::pow, std::floor, std::ceil
#include <cstddef>    // std::size_t
#include <cstdio>     // std::snprintf: number formatting
#include <limits>     // std::numeric_limits: empty ranges
#include <string>     // std::string: the SVG text
#include <utility>    // std::pair: (x, y) points
#include <vector>     // std::vector: series and points

namespace demo_plot {

struct Series {
  std::string label;
  std::string color;                              // any SVG colour, e.g. "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (seconds, bytes), x non-decreasing
  bool dashed = false;
};

// A horizontal reference line across the plot, labelled at its right end.
struct HLine {
  double y = 0;  // bytes
  std::string label;
  std::string color;
};

struct Figure {
  std::string title;
  std::string subtitle;  // one smaller line under the title; may be empty
  std::string x_label = "time since the run started (s)";
  std::string y_label = "memory";
  std::vector<Series> series;
  std::vector<HLine> hlines;
  double width = 900;
  double height = 540;
};

namespace detail {

inline std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

inline std::string escape(const std::string& s) {
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
        out += c;
    }
  }
  return out;
}

// 1e6 -> "1 MB", 1e9 -> "1 GB": decimal units, as joblib's figure labels its ticks.
inline std::string decade_label(int exponent) {
  static const char* const units[] = {"B", "kB", "MB", "GB", "TB"};
  if (exponent < 0) exponent = 0;
  const int unit = std::min(exponent / 3, 4);
  const int zeros = exponent - 3 * unit;
  std::string mantissa = "1";
  for (int i = 0; i < zeros; ++i) mantissa += '0';
  return mantissa + " " + units[unit];
}

// The finest "nice" step (1, 2 or 5 times a power of ten) that covers span in at most
// `max_intervals` intervals: the axis ends close to the data.
inline double nice_step(double span, int max_intervals) {
  if (span <= 0) return 1;
  const double raw = span / max_intervals;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

inline std::string tick_number(double v, double step) {
  char buf[32];
  if (step >= 1) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (step >= 0.1) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

}  // namespace detail

// Renders the figure as a standalone SVG document. Values at or below the bottom of the
// y axis (a run's first samples, whose growth is about zero) are drawn along the bottom.
inline std::string render_svg(const Figure& fig) {
  using detail::fmt;
  const double width = fig.width;
  const double height = fig.height;
  const double left = 90;
  const double right = 30;
  const double top = fig.subtitle.empty() ? 60 : 78;
  const double bottom = 62;
  const double pw = width - left - right;
  const double ph = height - top - bottom;

  // Data ranges.
  double x_max = 0;
  double y_max = 0;
  double y_min_pos = std::numeric_limits<double>::max();
  for (const auto& s : fig.series) {
    for (const auto& [x, y] : s.points) {
      x_max = std::max(x_max, x);
      y_max = std::max(y_max, y);
    }
    // The smallest "settled" level of a series: its final value (a running maximum ends at
    // its peak), so the axis reaches a decade below the lowest curve.
    if (!s.points.empty() && s.points.back().second > 0) {
      y_min_pos = std::min(y_min_pos, s.points.back().second);
    }
  }
  for (const auto& h : fig.hlines) {
    y_max = std::max(y_max, h.y);
    if (h.y > 0) y_min_pos = std::min(y_min_pos, h.y);
  }
  if (x_max <= 0) x_max = 1;
  if (y_max <= 0) y_max = 1e6;
  if (y_min_pos == std::numeric_limits<double>::max()) y_min_pos = y_max / 100;
  const int dec_hi = static_cast<int>(std::ceil(std::log10(y_max * 1.25)));
  int dec_lo = static_cast<int>(std::floor(std::log10(y_min_pos))) - 1;
  dec_lo = std::clamp(dec_lo, dec_hi - 5, dec_hi - 2);
  const double ly_lo = dec_lo;
  const double ly_hi = dec_hi;

  const double x_step = detail::nice_step(x_max, 11);
  const double x_hi = std::ceil(x_max / x_step - 1e-9) * x_step;

  auto px = [&](double x) { return left + pw * (x / x_hi); };
  auto py = [&](double y) {
    const double ly = y > 0 ? std::clamp(std::log10(y), ly_lo, ly_hi) : ly_lo;
    return top + ph * (1 - (ly - ly_lo) / (ly_hi - ly_lo));
  };

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt(width) + "\" height=\"" +
         fmt(height) + "\" viewBox=\"0 0 " + fmt(width) + " " + fmt(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";

  // Title and subtitle.
  svg += "<text x=\"" + fmt(width / 2) +
         "\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" "
         "font-weight=\"bold\" fill=\"#222\">" +
         detail::escape(fig.title) + "</text>\n";
  if (!fig.subtitle.empty()) {
    svg += "<text x=\"" + fmt(width / 2) +
           "\" y=\"50\" text-anchor=\"middle\" font-size=\"13\" "
           "fill=\"#555\">" +
           detail::escape(fig.subtitle) + "</text>\n";
  }

  // Grid and ticks: y decades (major, labelled) and 2..9 within each (minor).
  svg += "<g stroke-linecap=\"butt\">\n";
  for (int d = dec_lo; d <= dec_hi; ++d) {
    const double y = py(std::pow(10.0, d));
    svg += "<line x1=\"" + fmt(left) + "\" x2=\"" + fmt(left + pw) + "\" y1=\"" + fmt(y) +
           "\" y2=\"" + fmt(y) + "\" stroke=\"#d8d8d8\" stroke-width=\"1\"/>\n";
    svg += "<line x1=\"" + fmt(left - 6) + "\" x2=\"" + fmt(left) + "\" y1=\"" + fmt(y) +
           "\" y2=\"" + fmt(y) + "\" stroke=\"#333\" stroke-width=\"1\"/>\n";
    svg += "<text x=\"" + fmt(left - 10) + "\" y=\"" + fmt(y + 4.5) +
           "\" text-anchor=\"end\" font-size=\"13\" fill=\"#333\">" + detail::decade_label(d) +
           "</text>\n";
    if (d == dec_hi) break;
    for (int m = 2; m <= 9; ++m) {
      const double ym = py(m * std::pow(10.0, d));
      svg += "<line x1=\"" + fmt(left) + "\" x2=\"" + fmt(left + pw) + "\" y1=\"" + fmt(ym) +
             "\" y2=\"" + fmt(ym) + "\" stroke=\"#f0f0f0\" stroke-width=\"1\"/>\n";
      svg += "<line x1=\"" + fmt(left - 3) + "\" x2=\"" + fmt(left) + "\" y1=\"" + fmt(ym) +
             "\" y2=\"" + fmt(ym) + "\" stroke=\"#333\" stroke-width=\"1\"/>\n";
    }
  }
  for (double x = 0; x <= x_hi + 1e-9; x += x_step) {
    const double px_x = px(x);
    svg += "<line x1=\"" + fmt(px_x) + "\" x2=\"" + fmt(px_x) + "\" y1=\"" + fmt(top) + "\" y2=\"" +
           fmt(top + ph) + "\" stroke=\"#ececec\" stroke-width=\"1\"/>\n";
    svg += "<line x1=\"" + fmt(px_x) + "\" x2=\"" + fmt(px_x) + "\" y1=\"" + fmt(top + ph) +
           "\" y2=\"" + fmt(top + ph + 6) + "\" stroke=\"#333\" stroke-width=\"1\"/>\n";
    svg += "<text x=\"" + fmt(px_x) + "\" y=\"" + fmt(top + ph + 22) +
           "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333\">" +
           detail::tick_number(x, x_step) + "</text>\n";
  }
  svg += "</g>\n";

  // Axis labels.
  svg += "<text x=\"" + fmt(left + pw / 2) + "\" y=\"" + fmt(height - 16) +
         "\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">" + detail::escape(fig.x_label) +
         "</text>\n";
  svg += "<text transform=\"translate(22 " + fmt(top + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\" fill=\"#222\">" +
         detail::escape(fig.y_label) + "</text>\n";

  // Clip the data to the plot area.
  svg += "<defs><clipPath id=\"plot\"><rect x=\"" + fmt(left) + "\" y=\"" + fmt(top - 2) +
         "\" width=\"" + fmt(pw) + "\" height=\"" + fmt(ph + 4) + "\"/></clipPath></defs>\n";

  // Reference lines, labelled just above their right end.
  for (const auto& h : fig.hlines) {
    const double y = py(h.y);
    svg += "<line x1=\"" + fmt(left) + "\" x2=\"" + fmt(left + pw) + "\" y1=\"" + fmt(y) +
           "\" y2=\"" + fmt(y) + "\" stroke=\"" + h.color +
           "\" stroke-width=\"1.3\" stroke-dasharray=\"7 5\" opacity=\"0.9\"/>\n";
    svg += "<text x=\"" + fmt(left + pw - 6) + "\" y=\"" + fmt(y - 6) +
           "\" text-anchor=\"end\" font-size=\"12\" fill=\"" + h.color + "\">" +
           detail::escape(h.label) + "</text>\n";
  }

  // The series.
  for (const auto& s : fig.series) {
    if (s.points.empty()) continue;
    svg += "<polyline clip-path=\"url(#plot)\" fill=\"none\" stroke=\"" + s.color +
           "\" stroke-width=\"2.2\" stroke-linejoin=\"round\"" +
           (s.dashed ? " stroke-dasharray=\"9 5\"" : "") + " points=\"";
    for (const auto& [x, y] : s.points) svg += fmt(px(x)) + "," + fmt(py(y)) + " ";
    svg += "\"/>\n";
  }

  // Axes frame on top of the data.
  svg += "<rect x=\"" + fmt(left) + "\" y=\"" + fmt(top) + "\" width=\"" + fmt(pw) +
         "\" height=\"" + fmt(ph) + "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";

  // Legend: in the corner that covers the fewest data points and reference labels.
  const double row = 22;
  std::size_t longest = 0;
  for (const auto& s : fig.series) longest = std::max(longest, s.label.size());
  const double lw = 48 + 7.4 * static_cast<double>(longest);
  const double lh = 10 + row * static_cast<double>(fig.series.size());
  const std::array<std::pair<double, double>, 4> corners = {{
      {left + 12, top + 12},                      // upper left
      {left + pw - lw - 12, top + 12},            // upper right
      {left + pw - lw - 12, top + ph - lh - 12},  // lower right
      {left + 12, top + ph - lh - 12},            // lower left
  }};
  std::size_t best = 0;
  double best_cost = std::numeric_limits<double>::max();
  for (std::size_t c = 0; c < corners.size(); ++c) {
    // Plain copies, not a structured binding: clang 14 cannot capture those in a lambda.
    const double lx = corners[c].first;
    const double ly = corners[c].second;
    auto inside = [&](double px_x, double px_y) {
      return px_x >= lx - 4 && px_x <= lx + lw + 4 && px_y >= ly - 4 && px_y <= ly + lh + 4;
    };
    double cost = 0;
    for (const auto& s : fig.series) {
      for (std::size_t i = 0; i < s.points.size(); ++i) {
        // Sample the segments too: step curves have few points and long segments.
        const auto [x0, y0] = s.points[i];
        const auto [x1, y1] = i + 1 < s.points.size() ? s.points[i + 1] : s.points[i];
        for (int k = 0; k <= 8; ++k) {
          const double t = k / 8.0;
          const double px_x = px(x0 + t * (x1 - x0));
          const double px_y = py(y0) + t * (py(y1) - py(y0));
          if (inside(px_x, px_y)) cost += 1;
        }
      }
    }
    for (const auto& h : fig.hlines) {
      const double px_y = py(h.y);
      if (px_y >= ly - 20 && px_y <= ly + lh + 4) cost += c == 1 || c == 2 ? 50 : 5;  // its label
    }
    if (cost < best_cost) {
      best_cost = cost;
      best = c;
    }
  }
  const auto [lx, ly] = corners[best];
  svg += "<rect x=\"" + fmt(lx) + "\" y=\"" + fmt(ly) + "\" width=\"" + fmt(lw) + "\" height=\"" +
         fmt(lh) + "\" rx=\"4\" fill=\"white\" fill-opacity=\"0.92\" stroke=\"#bbb\"/>\n";
  for (std::size_t i = 0; i < fig.series.size(); ++i) {
    const auto& s = fig.series[i];
    const double y = ly + 5 + row * (static_cast<double>(i) + 0.5);
    svg += "<line x1=\"" + fmt(lx + 10) + "\" x2=\"" + fmt(lx + 38) + "\" y1=\"" + fmt(y) +
           "\" y2=\"" + fmt(y) + "\" stroke=\"" + s.color + "\" stroke-width=\"2.5\"" +
           (s.dashed ? " stroke-dasharray=\"7 4\"" : "") + "/>\n";
    svg += "<text x=\"" + fmt(lx + 46) + "\" y=\"" + fmt(y + 4.5) +
           "\" font-size=\"13\" fill=\"#222\">" + detail::escape(s.label) + "</text>\n";
  }

  svg += "</svg>\n";
  return svg;
}

}  // namespace demo_plot
