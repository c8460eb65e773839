// PNG output (decoded again with libpng) and .npy files (against arrays numpy itself saved:
// tests/reference/make_npy_reference.py).
#include <doctest/doctest.h>
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "minimax.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "temp_dir.h"

using namespace minimax;
namespace fs = std::filesystem;

using minimax::testing::TempDir;

namespace {

// The names in the directory: a failed or finished write must leave no temporary file behind.
std::vector<std::string> names(const TempDir& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir.path)) out.push_back(entry.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

template <class Error, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---- PNG decoding with libpng's simplified API ----

struct Decoded {
  uint32_t width = 0, height = 0;
  uint32_t file_format = 0;  // the format stored in the file (gray or RGB)
  std::vector<uint8_t> pixels;
  int channels = 1;
  uint8_t at(uint32_t row, uint32_t col, int channel = 0) const {
    return pixels[(static_cast<size_t>(row) * width + col) * channels + channel];
  }
};

Decoded decode(const fs::path& p, uint32_t format) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, p.c_str()) != 0);
  Decoded d;
  d.width = image.width;
  d.height = image.height;
  d.file_format = image.format;
  d.channels = PNG_IMAGE_SAMPLE_CHANNELS(format);
  image.format = format;
  d.pixels.resize(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, d.pixels.data(), 0, nullptr) != 0);
  return d;
}

const fs::path kNpyData = fs::path(MINIMAX_TEST_DATA_DIR) / "npy";

// A .npy file with any header text: for headers numpy would never write.
std::string npy_with(const std::string& dict, const std::string& data = "", char major = 1) {
  std::string out("\x93NUMPY", 6);
  out += {major, '\0'};
  size_t n = dict.size();
  out += {static_cast<char>(n & 0xff), static_cast<char>(n >> 8)};
  if (major != 1) out += {'\0', '\0'};
  return out + dict + data;
}

}  // namespace

TEST_CASE("an image grid has the promised layout, scaling, border and clamping") {
  TempDir dir;
  // Five gray 2 x 3 images; image k, pixel (y, x) holds (10 k + 3 y + x) / 255.
  Tensor images = Tensor::empty({5, 1, 2, 3});
  for (int k = 0; k < 5; ++k)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) images.data()[k * 6 + y * 3 + x] = (10 * k + 3 * y + x) / 255.0f;
  images.data()[4 * 6 + 5] = 1.7f;                                     // clamps to 255
  images.data()[4 * 6 + 4] = -0.5f;                                    // clamps to 0
  images.data()[4 * 6 + 3] = std::numeric_limits<float>::quiet_NaN();  // drawn as 0
  fs::path p = dir.path / "grid.png";
  io::write_image_grid(images, p, {.columns = 3, .border = 1, .scale = 2, .border_value = 0.5f});

  Decoded d = decode(p, PNG_FORMAT_GRAY);
  CHECK(d.file_format == PNG_FORMAT_GRAY);
  // 3 columns of 6 pixels and 4 borders; 2 rows of 4 pixels and 3 borders.
  CHECK(d.width == 22);
  CHECK(d.height == 11);
  CHECK(d.at(0, 0) == 128);  // border: round(0.5 * 255)
  CHECK(d.at(5, 10) == 128);
  // Image 0 at (1, 1): pixel (1, 2) of the image covers rows 3-4, columns 5-6.
  for (uint32_t r : {3u, 4u})
    for (uint32_t c : {5u, 6u}) CHECK(d.at(r, c) == 5);
  // Image 4 is row 1, column 1: top 1 + 4 + 1 = 6, left 1 + 6 + 1 = 8.
  CHECK(d.at(6, 8) == 40);
  CHECK(d.at(6, 13) == 42);
  CHECK(d.at(8, 8) == 0);     // NaN
  CHECK(d.at(8, 10) == 0);    // -0.5
  CHECK(d.at(9, 13) == 255);  // 1.7
  // The sixth cell is empty: border color.
  CHECK(d.at(7, 17) == 128);
  CHECK(names(dir) == std::vector<std::string>{"grid.png"});

  // Fewer images than columns: the grid shrinks to them.
  io::write_image_grid(images, p, {.columns = 8, .border = 2});
  d = decode(p, PNG_FORMAT_GRAY);
  CHECK(d.width == 5 * 3 + 6 * 2);
  CHECK(d.height == 2 + 2 * 2);
}

TEST_CASE("an image grid maps its value range to black and white") {
  TempDir dir;
  // A tanh generator's raw output: -1 is black, 1 white, 0 mid-gray; outside the range clamps.
  Tensor images = Tensor::from_vector({-1.0f, 0.0f, 1.0f, 3.0f}, {1, 1, 1, 4});
  fs::path p = dir.path / "tanh.png";
  io::write_image_grid(images, p, {.border = 0, .low = -1.0f, .high = 1.0f});
  Decoded d = decode(p, PNG_FORMAT_GRAY);
  CHECK(d.at(0, 0) == 0);
  CHECK(d.at(0, 1) == 128);
  CHECK(d.at(0, 2) == 255);
  CHECK(d.at(0, 3) == 255);
  for (auto [low, high] : {std::pair{1.0f, 1.0f}, std::pair{0.0f, -1.0f},
                           std::pair{0.0f, std::numeric_limits<float>::infinity()}}) {
    CHECK(contains(error_of<io::PngError>(
                       [&] { io::write_image_grid(images, p, {.low = low, .high = high}); }),
                   "value range"));
  }
}

TEST_CASE("an RGB image grid keeps its channels apart") {
  TempDir dir;
  Tensor images = Tensor::zeros({2, 3, 1, 1});
  images.data()[0] = 1.0f;  // image 0: red
  images.data()[5] = 1.0f;  // image 1: blue
  fs::path p = dir.path / "rgb.png";
  io::write_image_grid(images, p, {.columns = 2, .border = 1, .border_value = 0.0f});
  Decoded d = decode(p, PNG_FORMAT_RGB);
  CHECK(d.file_format == PNG_FORMAT_RGB);
  CHECK(d.width == 5);
  CHECK(d.height == 3);
  CHECK(d.at(1, 1, 0) == 255);
  CHECK(d.at(1, 1, 1) == 0);
  CHECK(d.at(1, 1, 2) == 0);
  CHECK(d.at(1, 3, 0) == 0);
  CHECK(d.at(1, 3, 2) == 255);
}

TEST_CASE("a framed column is outlined in the frame color, and gray images become RGB for it") {
  TempDir dir;
  Tensor images = Tensor::full({4, 1, 2, 2}, 0.2f);  // 2 rows of 2 gray images
  fs::path p = dir.path / "framed.png";
  io::write_image_grid(images, p,
                       {.columns = 2, .border = 1, .border_value = 1.0f, .framed_column = 1});
  Decoded d = decode(p, PNG_FORMAT_RGB);
  CHECK(d.file_format == PNG_FORMAT_RGB);
  REQUIRE(d.width == 7);
  REQUIRE(d.height == 7);
  auto rgb = [&](uint32_t row, uint32_t col) {
    return std::array<uint8_t, 3>{d.at(row, col, 0), d.at(row, col, 1), d.at(row, col, 2)};
  };
  const std::array<uint8_t, 3> gray{51, 51, 51}, white{255, 255, 255};
  CHECK(rgb(1, 1) == gray);  // column 0: image, white border, no frame
  CHECK(rgb(0, 1) == white);
  CHECK(rgb(1, 3) == io::kFrameColor);  // the border between the columns belongs to the frame
  CHECK(rgb(1, 4) == gray);             // column 1: image, framed all round
  CHECK(rgb(0, 4) == io::kFrameColor);
  CHECK(rgb(1, 6) == io::kFrameColor);
  CHECK(rgb(3, 5) == io::kFrameColor);  // between the rows
  CHECK(rgb(6, 4) == io::kFrameColor);
  CHECK(rgb(6, 1) == white);
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_image_grid(images, p, {.columns = 2, .border = 0, .framed_column = 1});
                 }),
                 "a frame needs a column of the grid and a border of at least 1"));
}

TEST_CASE("a scatter plot puts points, marks and axes where the range says") {
  TempDir dir;
  float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor points = Tensor::from_vector({-1.0f, 1.0f, 0.5f, 0.25f, 3.0f, 0.0f, nan, 0.0f},
                                      {4, 2});  // the last two are not drawn
  io::ScatterOptions options;
  options.width = 101;
  options.height = 51;
  options.point_radius = 0;
  options.marks = {{0.5f, -0.5f}};
  fs::path p = dir.path / "scatter.png";
  CHECK(io::write_scatter_plot(points, io::AxisRange::square(1.0f), p, options) == 2);

  Decoded d = decode(p, PNG_FORMAT_RGB);
  CHECK(d.file_format == PNG_FORMAT_RGB);
  REQUIRE(d.width == 101);
  REQUIRE(d.height == 51);
  auto rgb = [&](uint32_t row, uint32_t col) {
    return std::array<int, 3>{d.at(row, col, 0), d.at(row, col, 1), d.at(row, col, 2)};
  };
  const std::array<int, 3> blue{31, 119, 180}, red{214, 39, 40}, white{255, 255, 255},
      gray{210, 210, 210};
  CHECK(rgb(0, 0) == blue);    // (-1, 1): the top left corner
  CHECK(rgb(19, 75) == blue);  // (0.5, 0.25): column 0.75 * 100, row 0.375 * 50 rounded
  CHECK(rgb(38, 75) == red);   // the mark's centre: (0.5, -0.5)
  CHECK(rgb(35, 72) == red);   // on its diagonal
  CHECK(rgb(10, 10) == white);
  CHECK(rgb(10, 50) == gray);   // x = 0
  CHECK(rgb(25, 10) == gray);   // y = 0
  CHECK(rgb(25, 100) == gray);  // (3, 0) is outside the range: only the axis is there

  options.point_radius = 2;
  options.axes = false;
  io::write_scatter_plot(points, io::AxisRange::square(1.0f), p, options);
  d = decode(p, PNG_FORMAT_RGB);
  CHECK(rgb(21, 75) == blue);   // within radius 2 of (19, 75)
  CHECK(rgb(22, 75) == white);  // beyond it
  CHECK(rgb(10, 50) == white);  // no axes
}

TEST_CASE("PNG writers name the path and the problem, and leave no partial file") {
  TempDir dir;
  fs::path nowhere = dir.path / "no-such-dir" / "grid.png";
  std::string e = error_of<io::PngError>([&] {
    io::write_image_grid(Tensor::zeros({1, 1, 2, 2}), nowhere);
  });
  CHECK(contains(e, "PNG " + nowhere.string()));
  CHECK(contains(e, "No such file or directory"));

  fs::path p = dir.path / "x.png";
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_image_grid(Tensor::zeros({2, 2}), p);
                 }),
                 "images of shape [2, 2]: expected [N, C, H, W] with C = 1 or 3"));
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_image_grid(Tensor::zeros({1, 2, 2, 2}), p);
                 }),
                 "C = 1 or 3"));
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_image_grid(Tensor::zeros({1, 1, 2, 2}), p, {.scale = 0});
                 }),
                 "scale 1 to 64"));
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_image_grid(Tensor::zeros({1, 1, 2000000, 1}), p);
                 }),
                 "too large"));
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_scatter_plot(Tensor::zeros({3, 3}), io::AxisRange::square(1), p);
                 }),
                 "points of shape [3, 3]: expected [N, 2]"));
  CHECK(contains(error_of<io::PngError>([&] {
                   io::write_scatter_plot(Tensor::zeros({3, 2}), {1, -1, 0, 1}, p);
                 }),
                 "axis range x [1, -1], y [0, 1] is empty"));
  CHECK(names(dir).empty());

  // A directory where the file should go: the rename fails, and the temporary file is removed.
  fs::create_directory(p);
  e = error_of<io::PngError>([&] { io::write_image_grid(Tensor::zeros({1, 1, 2, 2}), p); });
  CHECK(contains(e, "rename failed"));
  CHECK(names(dir) == std::vector<std::string>{"x.png"});
}

TEST_CASE("npy headers are the bytes numpy writes") {
  // np.save(f, np.zeros((2, 3), np.float32)) with numpy 1.24: the dict, 58 spaces (room for the
  // first extent to grow, then alignment of the data to 64 bytes), a newline.
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected =
      std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict + std::string(58, ' ') + "\n";
  CHECK(io::npy_header({2, 3}) == expected);
  CHECK(expected.size() == 128);

  for (const char* name : {"float32_2x3.npy", "float32_5.npy", "float32_scalar.npy",
                           "float32_0x3.npy", "float32_12345x0.npy"}) {
    CAPTURE(name);
    std::string numpy = read_file(kNpyData / name);
    REQUIRE(numpy.size() >= 128);
    Tensor t = io::load_npy(kNpyData / name);
    CHECK(io::npy_header(t.shape()) == numpy.substr(0, numpy.size() - t.numel() * 4));
  }
}

TEST_CASE("save_npy writes numpy's bytes and load_npy reads numpy's files") {
  TempDir dir;
  Tensor a = io::load_npy(kNpyData / "float32_2x3.npy");
  REQUIRE(a.shape() == Shape{2, 3});
  CHECK(a.to_vector() == std::vector<float>{0.0f, 0.5f, -1.25f, 3.0e-8f, 1.0e6f, -0.0f});
  CHECK(std::signbit(a.data()[5]));
  for (const char* name : {"float32_2x3.npy", "float32_5.npy", "float32_scalar.npy",
                           "float32_0x3.npy", "float32_12345x0.npy"}) {
    CAPTURE(name);
    io::save_npy(io::load_npy(kNpyData / name), dir.path / name);
    CHECK(read_file(dir.path / name) == read_file(kNpyData / name));
  }

  Tensor scalar = io::load_npy(kNpyData / "float32_scalar.npy");
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item() == 2.5f);
  CHECK(io::load_npy(kNpyData / "float32_0x3.npy").shape() == Shape{0, 3});
  Tensor wide = io::load_npy(kNpyData / "float64_4.npy");  // float64, rounded to float32
  CHECK(wide.shape() == Shape{4});
  CHECK(wide.to_vector() ==
        std::vector<float>{static_cast<float>(1.0 / 3.0), -2.5f, 1.0e10f, 7.0f});

  Generator gen(4);
  Tensor r = Tensor::normal({3, 4, 5}, 0, 1, gen);
  io::save_npy(r, dir.path / "r.npy");
  Tensor back = io::load_npy(dir.path / "r.npy");
  CHECK(back.shape() == r.shape());
  CHECK(back.to_vector() == r.to_vector());
  CHECK(read_file(dir.path / "r.npy").size() % 64 == 240 % 64);  // 128 header + 240 data bytes
  CHECK(names(dir).size() == 6);                                 // no temporary files left
}

TEST_CASE("load_npy names the file and the problem for every kind of bad file") {
  TempDir dir;
  auto error = [&](const std::string& name, const std::string& bytes) {
    write_file(dir.path / name, bytes);
    return error_of<io::NpyError>([&] { io::load_npy(dir.path / name); });
  };
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string two_floats(8, '\0');
  CHECK(io::load_npy((write_file(dir.path / "ok", npy_with(ok_dict, two_floats)), dir.path / "ok"))
            .numel() == 2);
  // Version 2 (4-byte header length) and double quotes are numpy's too.
  CHECK(io::load_npy(
            (write_file(dir.path / "v2",
                        npy_with(R"({"descr": "<f4", "fortran_order": False, "shape": (2,)})",
                                 two_floats, 2)),
             dir.path / "v2"))
            .numel() == 2);

  fs::path missing = dir.path / "missing.npy";
  std::string e = error_of<io::NpyError>([&] { io::load_npy(missing); });
  CHECK(contains(e, "npy file " + missing.string() + ": cannot open: No such file or directory"));
  CHECK(contains(error("empty", ""), "empty file"));
  CHECK(contains(error("garbage", "PK\x03\x04 a zip file"), "not a .npy file"));
  CHECK(contains(error("short", std::string("\x93NUMPY\x01", 7)), "truncated: 7 bytes"));
  CHECK(contains(error("version", npy_with(ok_dict, two_floats, 4)), "format version 4.0"));
  CHECK(contains(error("header", npy_with(ok_dict).substr(0, 40)),
                 "truncated in the header: it claims 57 bytes, 30 follow"));
  CHECK(contains(error("data", npy_with(ok_dict, "1234567")),
                 "truncated: 7 of the 8 data bytes that shape (2,) calls for"));
  CHECK(contains(error("trailing", npy_with(ok_dict, two_floats + "xyz")),
                 "3 trailing bytes after the 8 data bytes"));
  CHECK(contains(error("int", npy_with("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                                       std::string(16, '\0'))),
                 "element type '<i8' is not float32 ('<f4') or float64 ('<f8')"));
  CHECK(contains(error("big", npy_with("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                                       two_floats)),
                 "element type '>f4'"));
  CHECK(contains(error("fortran", npy_with("{'descr': '<f4', 'fortran_order': True, 'shape': "
                                           "(2,), }",
                                           two_floats)),
                 "Fortran-ordered arrays are not supported"));
  CHECK(contains(error("rank", npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                        "(1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                                        std::string(4, '\0'))),
                 "rank 9 exceeds 8"));
  CHECK(contains(error("huge", npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                        "(1048576, 1048576, 2), }")),
                 "more than 2^40 elements"));
  // An empty array, but 2^40 x 2^40 would overflow its strides.
  CHECK(contains(error("huge_empty", npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                              "(0, 1099511627776, 1099511627776), }")),
                 "more than 2^40 elements"));
  e = error("syntax", npy_with("{'descr': '<f4', 'fortran_order': False 'shape': (2,), }"));
  CHECK(contains(e, "cannot parse the header \"{'descr': '<f4', 'fortran_order': False 'shape'"));
  CHECK(contains(e, "expected ','"));
  CHECK(contains(error("unknown", npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                           "(2,), 'extra': 1}")),
                 "unknown key 'extra'"));
  CHECK(contains(error("nokey", npy_with("{'descr': '<f4', 'shape': (2,)}", two_floats)),
                 "are not all there"));
  CHECK(contains(error("negative", npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                            "(-2,), }")),
                 "expected a non-negative integer"));

  fs::path nowhere = dir.path / "no-such-dir" / "a.npy";
  e = error_of<io::NpyError>([&] { io::save_npy(Tensor::zeros({2}), nowhere); });
  CHECK(contains(e, "npy file " + nowhere.string()));
  CHECK(contains(e, "No such file or directory"));
}
