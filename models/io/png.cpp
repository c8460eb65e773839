#include "models/io/png.h"

#include <fmt/format.h>
#include <png.h>

#include <cmath>
#include <memory>

#include "models/io/atomic_file.h"

namespace minimax::io {

namespace {

// libpng's default limit on each side (PNG_USER_WIDTH_MAX); the pixel cap keeps the canvas in
// memory to at most 768 MiB.
constexpr int64_t kMaxSide = 1000000;
constexpr int64_t kMaxPixels = int64_t{1} << 28;

using Rgb = std::array<uint8_t, 3>;
constexpr Rgb kPointColor = {31, 119, 180};
constexpr Rgb kMarkColor = {214, 39, 40};
constexpr Rgb kAxisColor = {210, 210, 210};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw PngError(fmt::format("PNG {}: {}", path.string(), problem));
}

// [0, 1] to 0..255, rounding to nearest; NaN (which every comparison rejects) to 0.
uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 1.0f) return 255;
  return static_cast<uint8_t>(std::lround(v * 255.0f));
}

// An 8-bit image being drawn: rows top to bottom, channels interleaved.
class Canvas {
 public:
  Canvas(int64_t width, int64_t height, int channels, uint8_t fill)
      : width_(width),
        height_(height),
        channels_(channels),
        pixels_(static_cast<size_t>(width * height * channels), fill) {}

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  int channels() const { return channels_; }
  uint8_t* at(int64_t row, int64_t col) { return &pixels_[(row * width_ + col) * channels_]; }
  // Colors one pixel of an RGB canvas; pixels off the canvas are ignored, so shapes clip.
  void put(int64_t row, int64_t col, const Rgb& color) {
    if (row < 0 || row >= height_ || col < 0 || col >= width_) return;
    std::copy(color.begin(), color.end(), at(row, col));
  }

  // Encodes the canvas as PNG and writes it atomically to `path`.
  void save(const std::filesystem::path& path) const {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(width_);
    image.height = static_cast<png_uint_32>(height_);
    image.format = channels_ == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    // Encoded in memory first, so the file is written (atomically) only once encoding succeeded.
    // The buffer has libpng's worst-case size and is left uninitialized: only the pages the
    // encoder writes are ever touched.
    png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
    auto bytes = std::make_unique_for_overwrite<unsigned char[]>(size);
    if (!png_image_write_to_memory(&image, bytes.get(), &size, 0, pixels_.data(), 0, nullptr))
      fail(path, fmt::format("encoding failed: {}", image.message));
    std::string problem = write_file_atomically(path, {{bytes.get(), size}});
    if (!problem.empty()) fail(path, problem);
  }

 private:
  int64_t width_, height_;
  int channels_;
  std::vector<uint8_t> pixels_;
};

void check_canvas_size(int64_t width, int64_t height, const std::filesystem::path& path) {
  if (width > kMaxSide || height > kMaxSide || width * height > kMaxPixels)
    fail(path, fmt::format("a {} x {} pixel image is too large (at most {} a side and {} pixels)",
                           width, height, kMaxSide, kMaxPixels));
}

void check_grid(const Tensor& images, const ImageGridOptions& o,
                const std::filesystem::path& path) {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3) || images.numel() == 0)
    fail(path, fmt::format("images of shape {}: expected [N, C, H, W] with C = 1 or 3, N, H, W > 0",
                           images.shape().str()));
  if (o.columns < 1 || o.border < 0 || o.border > 16 || o.scale < 1 || o.scale > 64 ||
      !(o.border_value >= 0.0f && o.border_value <= 1.0f))
    fail(path,
         fmt::format("grid options columns {}, border {}, scale {}, border value {}: expected "
                     "columns >= 1, border 0 to 16, scale 1 to 64, border value in [0, 1]",
                     o.columns, o.border, o.scale, o.border_value));
  if (!(std::isfinite(o.low) && std::isfinite(o.high) && o.low < o.high))
    fail(path, fmt::format("value range [{}, {}] is empty or not finite", o.low, o.high));
  if (o.framed_column >= 0 && (o.border < 1 || o.framed_column >= o.columns))
    fail(path, fmt::format("framed column {} with {} columns and border {}: a frame needs a "
                           "column of the grid and a border of at least 1",
                           o.framed_column, o.columns, o.border));
}

// Copies one [C, H, W] image into the canvas at (top, left), each pixel repeated scale x scale;
// a gray image on an RGB canvas goes into all three channels.
void paste(Canvas& canvas, const float* image, int64_t channels, int64_t h, int64_t w,
           const ImageGridOptions& o, int64_t top, int64_t left) {
  const int scale = o.scale;
  const float shift = o.low, stretch = 1.0f / (o.high - o.low);
  int64_t out_channels = canvas.channels();
  for (int64_t y = 0; y < h * scale; ++y) {
    const float* row = image + (y / scale) * w;
    uint8_t* out = canvas.at(top + y, left);
    for (int64_t x = 0; x < w * scale; ++x)
      for (int64_t c = 0; c < out_channels; ++c)
        *out++ = to_byte((row[(channels == 1 ? 0 : c) * h * w + x / scale] - shift) * stretch);
  }
}

// Colors the border ring of `thickness` pixels around the cell at (top, left).
void frame(Canvas& canvas, int64_t top, int64_t left, int64_t cell_h, int64_t cell_w,
           int64_t thickness, const Rgb& color) {
  for (int64_t y = top - thickness; y < top + cell_h + thickness; ++y)
    for (int64_t x = left - thickness; x < left + cell_w + thickness; ++x) {
      bool inside = y >= top && y < top + cell_h && x >= left && x < left + cell_w;
      if (!inside) canvas.put(y, x, color);
    }
}

}  // namespace

void write_image_grid(const Tensor& images, const std::filesystem::path& path,
                      const ImageGridOptions& options) {
  check_grid(images, options, path);
  int64_t n = images.size(0), channels = images.size(1), h = images.size(2), w = images.size(3);
  int64_t columns = std::min<int64_t>(options.columns, n);
  int64_t rows = (n + columns - 1) / columns;
  int64_t cell_w = w * options.scale, cell_h = h * options.scale, border = options.border;
  int64_t width = columns * cell_w + (columns + 1) * border;
  int64_t height = rows * cell_h + (rows + 1) * border;
  check_canvas_size(width, height, path);

  bool framed = options.framed_column >= 0;
  Canvas canvas(width, height, framed ? 3 : static_cast<int>(channels),
                to_byte(options.border_value));
  for (int64_t k = 0; k < n; ++k) {
    int64_t top = border + (k / columns) * (cell_h + border);
    int64_t left = border + (k % columns) * (cell_w + border);
    paste(canvas, images.data() + k * channels * h * w, channels, h, w, options, top, left);
    if (framed && k % columns == options.framed_column)
      frame(canvas, top, left, cell_h, cell_w, border, kFrameColor);
  }
  canvas.save(path);
}

namespace {

void check_scatter(const Tensor& points, const AxisRange& r, const ScatterOptions& o,
                   const std::filesystem::path& path) {
  if (points.dim() != 2 || points.size(1) != 2)
    fail(path, fmt::format("points of shape {}: expected [N, 2]", points.shape().str()));
  bool finite = std::isfinite(r.x_min) && std::isfinite(r.x_max) && std::isfinite(r.y_min) &&
                std::isfinite(r.y_max);
  if (!finite || !(r.x_min < r.x_max) || !(r.y_min < r.y_max))
    fail(path, fmt::format("axis range x [{}, {}], y [{}, {}] is empty or not finite", r.x_min,
                           r.x_max, r.y_min, r.y_max));
  if (o.width < 2 || o.height < 2 || o.point_radius < 0 || o.point_radius > 100 ||
      o.mark_size < 0 || o.mark_size > 1000)
    fail(path, fmt::format("scatter options {} x {} pixels, point radius {}, mark size {}: "
                           "expected at least 2 x 2, radius 0 to 100, mark size 0 to 1000",
                           o.width, o.height, o.point_radius, o.mark_size));
  check_canvas_size(o.width, o.height, path);
}

// Data coordinates to pixels: x_min to column 0, x_max to the last column, y_max to row 0.
struct PixelMap {
  AxisRange r;
  int64_t width, height;
  bool inside(float x, float y) const {
    return x >= r.x_min && x <= r.x_max && y >= r.y_min && y <= r.y_max;  // false for NaN
  }
  int64_t col(float x) const {
    return std::lround(double(x - r.x_min) / (double(r.x_max) - r.x_min) * double(width - 1));
  }
  int64_t row(float y) const {
    return std::lround(double(r.y_max - y) / (double(r.y_max) - r.y_min) * double(height - 1));
  }
};

void draw_disc(Canvas& canvas, int64_t row, int64_t col, int radius, const Rgb& color) {
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx)
      if (dx * dx + dy * dy <= radius * radius) canvas.put(row + dy, col + dx, color);
}

// An "x", two pixels thick so that it stays visible over a dense cloud of points.
void draw_cross(Canvas& canvas, int64_t row, int64_t col, int size, const Rgb& color) {
  for (int t = -size; t <= size; ++t)
    for (int d = 0; d <= 1; ++d) {
      canvas.put(row + t, col + t + d, color);
      canvas.put(row + t, col - t - d, color);
    }
}

}  // namespace

int64_t write_scatter_plot(const Tensor& points, const AxisRange& range,
                           const std::filesystem::path& path, const ScatterOptions& options) {
  check_scatter(points, range, options, path);
  Canvas canvas(options.width, options.height, 3, 255);
  PixelMap map{range, options.width, options.height};
  if (options.axes) {
    if (map.inside(0.0f, range.y_min))
      for (int64_t row = 0; row < canvas.height(); ++row)
        canvas.put(row, map.col(0.0f), kAxisColor);
    if (map.inside(range.x_min, 0.0f))
      for (int64_t col = 0; col < canvas.width(); ++col) canvas.put(map.row(0.0f), col, kAxisColor);
  }
  int64_t drawn = 0;
  const float* p = points.data();
  for (int64_t i = 0; i < points.size(0); ++i) {
    float x = p[2 * i], y = p[2 * i + 1];
    if (!map.inside(x, y)) continue;
    draw_disc(canvas, map.row(y), map.col(x), options.point_radius, kPointColor);
    ++drawn;
  }
  // Marks go on top, so a mode stays visible under the points that cover it.
  for (const auto& [x, y] : options.marks)
    if (map.inside(x, y)) draw_cross(canvas, map.row(y), map.col(x), options.mark_size, kMarkColor);
  canvas.save(path);
  return drawn;
}

}  // namespace minimax::io
