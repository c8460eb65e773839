#include "examples/cli/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/data/cifar.h"
#include "models/data/idx.h"
#include "models/io/png.h"
#include "models/optim/schedule.h"
#include "ops/ops.h"

namespace minimax::cli {

namespace {

gan::GanModel build_model(const RunConfig& c) {
  if (c.model == "mlp") return gan::paper_mnist_mlp();
  if (c.model == "dcgan") return is_cifar10(c.data) ? gan::dcgan32_rgb() : gan::dcgan28();
  return gan::mixture_mlp();
}

std::unique_ptr<optim::Optimizer> build_optimizer(const RunConfig& c, nn::Module& m) {
  if (c.optimizer == "sgd")
    return std::make_unique<optim::SGD>(m.parameters(), optim::SGDOptions(c.lr).momentum(0.5));
  return std::make_unique<optim::Adam>(m.parameters(),
                                       optim::AdamOptions(c.lr).betas({0.5, 0.999}));
}

// The generator's output layout and range for a model: the MLP makes [N, 784] in [0, 1], DCGAN
// [N, 1, 28, 28] in [-1, 1].
Tensor to_model_layout(const Tensor& images01, const std::string& model) {
  NoGradGuard no_grad;
  if (model == "dcgan") return add(mul(images01, 2.0f), -1.0f);
  return reshape(images01, {images01.size(0), -1});
}

void jump(Generator& gen, int times) {
  for (int i = 0; i < times; ++i) gen.jump();
}

}  // namespace

Shard::Sharding parse_sharding(const std::string& name) {
  if (name == "streams") return Shard::Sharding::kStreams;
  if (name == "slices") return Shard::Sharding::kSlices;
  throw UsageError(fmt::format("--sharding: unknown mode '{}' (streams or slices)", name));
}

std::filesystem::path training_images_path(const std::string& data) {
  if (data == "fashion-mnist")
    return std::filesystem::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz";
  return data.substr(data.find(':') + 1);  // idx:FILE, cifar10:DIR
}

Tensor load_training_images(const RunConfig& config) {
  std::filesystem::path path = training_images_path(config.data);
  Tensor images = is_cifar10(config.data) ? data::load_cifar10_training(path).images
                                          : data::load_idx_images(path);
  ImageShape want = image_shape(config.data);
  if (images.size(1) != want.channels || images.size(2) != want.height ||
      images.size(3) != want.width)
    throw data::DataError(fmt::format("{}: images are {}x{}; the bundled models make {}x{} images",
                                      path.string(), images.size(2), images.size(3), want.height,
                                      want.width));
  return images;
}

Tensor load_evaluation_images(const RunConfig& config) {
  Tensor images;
  if (is_cifar10(config.data))
    images = data::load_cifar10_test(training_images_path(config.data)).images;
  else if (config.data == "fashion-mnist")
    images = data::load_idx_images(std::filesystem::path(kFashionMnistDir) /
                                   "t10k-images-idx3-ubyte.gz");
  else
    images = data::load_idx_images(training_images_path(config.data));
  NoGradGuard no_grad;
  return reshape(images, {images.size(0), -1});
}

Session::Session(const RunConfig& config, bool load_training_data, Shard shard)
    : config_(config),
      shard_(shard),
      noise_gen_(config.seed),
      data_gen_(config.seed ^ 0x9e3779b97f4a7c15ULL) {
  if (shard.ranks < 1 || shard.rank < 0 || shard.rank >= shard.ranks)
    throw std::invalid_argument(
        fmt::format("Session: rank {} of {} processes", shard.rank, shard.ranks));
  manual_seed(config.seed);
  model_ = build_model(config);
  if (config.data == "ring8") mixture_ = data::GaussianMixture::ring8();
  if (config.data == "grid25") mixture_ = data::GaussianMixture::grid25();
  if (!mixture_ && load_training_data) {
    images_ = load_images();
    sampler_ = std::make_unique<data::BatchSampler>(images_.size(0), config.batch * shard.ranks,
                                                    Generator(config.seed + 1));
  }
  g_opt_ = build_optimizer(config, *model_.generator);
  d_opt_ = build_optimizer(config, *model_.discriminator);
  if (shard.sharding == Shard::Sharding::kStreams) {
    jump(noise_gen_, shard.rank);
    jump(data_gen_, shard.rank);
  }
  // Dropout masks differ per rank in both modes. The jump comes after the initialization, which
  // every rank draws alike.
  jump(default_generator(), shard.rank);
}

Tensor Session::load_images() {
  Tensor images = load_training_images(config_);
  if (images.size(0) < config_.batch * shard_.ranks)
    throw data::DataError(fmt::format(
        "{}: {} images, fewer than one batch of {}{}", training_images_path(config_.data).string(),
        images.size(0), config_.batch * shard_.ranks,
        shard_.ranks > 1 ? fmt::format(" ({} processes x {})", shard_.ranks, config_.batch) : ""));
  if (config_.model == "mlp") {
    NoGradGuard no_grad;
    gan::init_output_bias_from_data(*model_.generator, reshape(mean(images, {0}), {-1}));
  }
  return to_model_layout(images, config_.model);
}

Tensor Session::real_batch(int64_t n) {
  if (mixture_) return own_rows(n, [&](int64_t rows) { return mixture_->sample(rows, data_gen_); });
  std::span<const int64_t> global = sampler_->next_indices();
  Shape shape = images_.shape();
  shape[0] = config_.batch;
  Tensor batch = Tensor::empty(shape);
  data::gather_rows(images_, global.subspan(shard_.rank * config_.batch, config_.batch), batch);
  return batch;
}

Tensor Session::noise(int64_t n) {
  return own_rows(n, [&](int64_t rows) { return model_.prior.sample(rows, noise_gen_); });
}

Tensor Session::own_rows(int64_t n, const std::function<Tensor(int64_t)>& draw) {
  if (shard_.ranks == 1 || shard_.sharding == Shard::Sharding::kStreams) return draw(n);
  NoGradGuard no_grad;
  int64_t first = shard_.rank * n;
  return slice(draw(shard_.ranks * n), 0, first, first + n);
}

void Session::apply_schedules(int64_t iteration) {
  if (config_.optimizer != "sgd") {
    const auto decay_from = static_cast<int64_t>(config_.lr_decay_start * config_.steps);
    if (iteration < decay_from) return;
    double lr = optim::linear_ramp(
        config_.lr, 0.01 * config_.lr,
        std::max<int64_t>(1, config_.steps - 1 - decay_from))(iteration - decay_from);
    g_opt_->set_lr(lr);
    d_opt_->set_lr(lr);
    return;
  }
  // The paper: lr divided by 1.000004 per update down to 1e-6; momentum 0.5 rising to 0.7 over
  // 250 epochs.
  int64_t updates_per_epoch =
      images_.defined() ? std::max<int64_t>(1, images_.size(0) / (config_.batch * shard_.ranks))
                        : 1000;
  for (optim::Optimizer* opt : {g_opt_.get(), d_opt_.get()}) {
    optim::schedule_lr(*opt, optim::exponential_decay(config_.lr, 1.000004, 1e-6));
    optim::schedule_momentum(static_cast<optim::SGD&>(*opt),
                             optim::linear_ramp(0.5, 0.7, 250 * updates_per_epoch));
  }
}

Tensor Session::sample(int64_t n, Generator& gen) {
  return generate(model_.prior.sample(n, gen));
}

Tensor Session::generate(const Tensor& z) {
  NoGradGuard no_grad;
  model_.generator->eval();
  Tensor x = model_.generator->forward(z);
  model_.generator->train();
  if (mixture_) return x;
  if (config_.model == "dcgan") x = mul(add(x, 1.0f), 0.5f);
  ImageShape shape = image_shape(config_.data);
  return reshape(x, {z.size(0), shape.channels, shape.height, shape.width});
}

void Session::write_png(const Tensor& samples, const std::filesystem::path& path, int columns,
                        int framed_column) const {
  if (images()) {
    io::write_image_grid(
        samples, path,
        {.columns = columns, .border = 2, .scale = 2, .framed_column = framed_column});
    return;
  }
  io::ScatterOptions options;
  for (const auto& m : mixture_->modes()) options.marks.push_back({m.x, m.y});
  float half = config_.data == "ring8" ? 1.5f : 5.5f;  // the modes and a margin
  io::write_scatter_plot(samples, io::AxisRange::square(half), path, options);
}

Checkpoint Session::to_checkpoint(int64_t step) const {
  Checkpoint c;
  model_.generator->save(c, "G");
  model_.discriminator->save(c, "D");
  g_opt_->save_state(c, "opt_G");
  d_opt_->save_state(c, "opt_D");
  save_generator(c, "rng/noise", noise_gen_);
  save_generator(c, "rng/data", data_gen_);
  save_generator(c, "rng/default", default_generator());
  if (sampler_) sampler_->save_state(c, "sampler/");
  c.words["step"] = {static_cast<uint64_t>(step)};
  c.strings["config"] = to_json(config_).dump();
  return c;
}

int64_t Session::restore(const Checkpoint& c) {
  model_.generator->load(c, "G");
  model_.discriminator->load(c, "D");
  g_opt_->load_state(c, "opt_G");
  d_opt_->load_state(c, "opt_D");
  load_generator(c, "rng/noise", noise_gen_);
  load_generator(c, "rng/data", data_gen_);
  load_generator(c, "rng/default", default_generator());
  if (sampler_) sampler_->load_state(c, "sampler/");
  return static_cast<int64_t>(c.word("step"));
}

std::vector<uint64_t> Session::stream_state() const {
  std::vector<uint64_t> words;
  for (const Generator* gen :
       {&noise_gen_, &data_gen_, const_cast<const Generator*>(&default_generator())}) {
    Generator::State state = gen->state();
    words.insert(words.end(), state.begin(), state.end());
  }
  return words;
}

void Session::set_stream_state(std::span<const uint64_t> words) {
  if (words.size() != kStreamWords)
    throw std::invalid_argument(
        fmt::format("Session::set_stream_state: {} words, not {}", words.size(), kStreamWords));
  for (Generator* gen : {&noise_gen_, &data_gen_, &default_generator()}) {
    Generator::State state;
    std::copy_n(words.begin(), state.size(), state.begin());
    gen->set_state(state);
    words = words.subspan(state.size());
  }
}

}  // namespace minimax::cli
