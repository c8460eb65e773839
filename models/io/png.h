// PNG output: a grid of images (generator samples) and a 2-D scatter plot (samples of a 2-D
// distribution against its modes). Files are written atomically (io/atomic_file.h).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "autograd/tensor.h"

namespace minimax::io {

// Thrown for images that cannot be drawn or written; the message names the file and the problem.
class PngError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ImageGridOptions {
  int columns = 8;            // images per row (fewer when there are fewer images)
  int border = 1;             // pixels around and between the images, 0 to 16
  int scale = 1;              // each image pixel becomes scale x scale pixels, 1 to 64
  float border_value = 0.5f;  // the border's gray level, in [0, 1]
  // When >= 0, every cell of this column is framed in the border around it in kFrameColor (the
  // GAN paper's Figure 2 frames the nearest training examples so). The image is then RGB even for
  // gray images. Needs a border of at least 1.
  int framed_column = -1;
  // The values that become black and white: [-1, 1] for a tanh generator's raw output.
  float low = 0.0f, high = 1.0f;
};

inline constexpr std::array<uint8_t, 3> kFrameColor = {255, 190, 0};  // amber

// Writes images [N, C, H, W] (C = 1 for gray, 3 for RGB) as one PNG, row-major in a grid, 8 bits
// per channel: a value v becomes round(255 (v - low) / (high - low)) clamped to 0..255 (NaN becomes
// 0). Cells
// after the last image are filled with the border value (itself in [0, 1]). Throws PngError for a
// shape it cannot draw, an empty or infinite range, a grid larger than 1,000,000 pixels a side, or
// a path it cannot write.
void write_image_grid(const Tensor& images, const std::filesystem::path& path,
                      const ImageGridOptions& options = {});

// The data range a scatter plot shows: fixed by the caller, so that plots of successive training
// steps are comparable.
struct AxisRange {
  float x_min, x_max, y_min, y_max;
  // [-half, half] on both axes.
  static AxisRange square(float half) { return {-half, half, -half, half}; }
};

struct ScatterOptions {
  int width = 512, height = 512;  // pixels
  int point_radius = 1;           // each point is a disc of this radius (0: a single pixel)
  // Reference points (for example a mixture's modes), drawn over the points as red crosses.
  std::vector<std::array<float, 2>> marks;
  int mark_size = 6;  // half the length of a cross's arms, in pixels
  bool axes = true;   // light gray lines at x = 0 and y = 0 when inside the range
};

// Draws points [N, 2] (x, y) in dark blue on white, x to the right and y up, the range's corners
// at the image's corners. Points outside the range, and NaNs, are not drawn. Returns how many were
// drawn. Throws PngError for a bad shape or range, or a path it cannot write.
int64_t write_scatter_plot(const Tensor& points, const AxisRange& range,
                           const std::filesystem::path& path, const ScatterOptions& options = {});

}  // namespace minimax::io
