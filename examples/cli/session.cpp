#include "examples/cli/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/data/error.h"
#include "models/gan/conditional.h"
#include "models/gan/losses.h"
#include "models/gan/trainer.h"
#include "models/io/png.h"
#include "models/nn/batch_norm_stats.h"
#include "ops/ops.h"

namespace minimax::cli {

namespace {

void jump(Generator& gen, int times) {
  for (int i = 0; i < times; ++i) gen.jump();
}

// Standing statistics: batches of the run's batch size, from a generator of their own.
constexpr int64_t kStandingBatches = 20;
constexpr uint64_t kStandingSeedMix = 0x5851f42d4c957f2dULL;

ModelOptions model_options(const RunConfig& config) {
  ModelOptions o;
  o.classes = config.classes;
  if (config.d_input_dropout != -1) o.d_input_dropout = static_cast<float>(config.d_input_dropout);
  return o;
}

}  // namespace

RunConfig stored_config(const Checkpoint& checkpoint) {
  const std::string& file = checkpoint.source;
  if (!checkpoint.strings.contains("config"))
    throw CheckpointError(
        fmt::format("checkpoint {}: not a training run's (it holds no configuration){}", file,
                    checkpoint.words.contains("feature_net/shape")
                        ? "; it is a feature network, which eval takes as --features"
                        : ""));
  try {
    return from_json(nlohmann::json::parse(checkpoint.string("config")));
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(
        fmt::format("checkpoint {}: unreadable configuration: {}", file, e.what()));
  } catch (const UsageError& e) {
    throw CheckpointError(fmt::format("checkpoint {}: {}", file, e.what()));
  }
}

Shard::Sharding parse_sharding(const std::string& name) {
  if (name == "streams") return Shard::Sharding::kStreams;
  if (name == "slices") return Shard::Sharding::kSlices;
  throw UsageError(fmt::format("--sharding: unknown mode '{}' (streams or slices)", name));
}

Session::Session(const RunConfig& config, bool load_training_data, Shard shard)
    : config_(config),
      data_(find_dataset(config.data, config.labels)),
      model_choice_(find_model(config.model)),
      shard_(shard),
      noise_gen_(config.seed),
      data_gen_(config.seed ^ 0x9e3779b97f4a7c15ULL) {
  if (shard.ranks < 1 || shard.rank < 0 || shard.rank >= shard.ranks)
    throw std::invalid_argument(
        fmt::format("Session: rank {} of {} processes", shard.rank, shard.ranks));
  manual_seed(config.seed);
  model_ = model_choice_.build(data_.dataset, model_options(config));
  if (data_.dataset.mixture) mixture_ = data_.dataset.mixture();
  if (images() && load_training_data) {
    load_images();
    sampler_ = std::make_unique<data::BatchSampler>(images_.size(0), config.batch * shard.ranks,
                                                    Generator(config.seed + 1));
  }
  if (config.ema > 0) build_average();
  // Schedules counted in epochs need the epoch's length; without data, a nominal 1000 updates.
  int64_t updates_per_epoch =
      images_.defined() ? std::max<int64_t>(1, images_.size(0) / (config.batch * shard.ranks))
                        : 1000;
  const OptimizerChoice& optimizer = find_optimizer(config.optimizer);
  g_opt_ = optimizer.build(model_.generator->parameters(), config, updates_per_epoch);
  d_opt_ = optimizer.build(model_.discriminator->parameters(), config, updates_per_epoch);
  if (shard.sharding == Shard::Sharding::kStreams) {
    jump(noise_gen_, shard.rank);
    jump(data_gen_, shard.rank);
  }
  // Dropout masks differ per rank in both modes. The jump comes after the initialization, which
  // every rank draws alike.
  jump(default_generator(), shard.rank);
}

gan::GanModel Session::build_quietly() const {
  // Building draws initial weights from the default generator, which the run's dropout masks also
  // draw from: leaving it as it was means --ema changes no training draw.
  Generator::State before = default_generator().state();
  gan::GanModel model = model_choice_.build(data_.dataset, model_options(config_));
  default_generator().set_state(before);
  return model;
}

void Session::build_average() {
  average_ = build_quietly();
  ema_ = std::make_unique<optim::ExponentialMovingAverage>(*model_.generator, *average_->generator,
                                                           config_.ema);
  if (!nn::batch_norm_layers(*average_->generator).empty()) standing_ = build_quietly();
}

gan::GanModel& Session::sampling_model() {
  if (!average_) return model_;
  if (!standing_) return *average_;
  if (standing_updates_ != ema_->updates()) refresh_standing();
  return *standing_;
}

void Session::refresh_standing() {
  standing_->generator->copy_state_from(*average_->generator);
  Generator gen(config_.seed ^ kStandingSeedMix);
  // A conditional G sees every class equally often.
  Tensor labels = conditional() ? labels_by_row(config_.batch, 1) : Tensor();
  nn::recompute_batch_norm_statistics(*standing_->generator, kStandingBatches, [&](int64_t) {
    Tensor z = model_.prior.sample(config_.batch, gen);
    if (conditional())
      gan::conditional_generator (*standing_)(z, labels);
    else
      (*standing_->generator)(z);
  });
  standing_updates_ = ema_->updates();
}

void Session::update_average() {
  if (ema_) ema_->update();
}

void Session::load_images() {
  ImageSet set = data_.training();
  const Tensor& images = set.images;
  if (images.size(0) < config_.batch * shard_.ranks)
    throw data::DataError(fmt::format(
        "{}: {} images, fewer than one batch of {}{}", data_.source().string(), images.size(0),
        config_.batch * shard_.ranks,
        shard_.ranks > 1 ? fmt::format(" ({} processes x {})", shard_.ranks, config_.batch) : ""));
  if (conditional()) {
    for (uint8_t label : set.labels)
      if (label >= config_.classes)
        throw data::DataError(fmt::format("{}: label {} is not one of the run's {} classes",
                                          data_.source().string(), label, config_.classes));
    if (set.labels.empty())
      throw data::DataError(
          fmt::format("{}: no labels for --conditional training", data_.source().string()));
    labels_.assign(set.labels.begin(), set.labels.end());
  }
  if (model_choice_.prepare) model_choice_.prepare(model_, images);
  images_ = model_choice_.to_model(images);
}

gan::LabelledBatch Session::real_batch(int64_t n) {
  if (!mixture_) return image_batch();
  return own_rows(n, [&](int64_t rows) {
    gan::LabelledBatch batch;
    batch.x = mixture_->sample(rows, data_gen_, conditional() ? &batch.labels : nullptr);
    return batch;
  });
}

gan::LabelledBatch Session::image_batch() {
  std::span<const int64_t> global = sampler_->next_indices();
  std::span<const int64_t> rows = global.subspan(shard_.rank * config_.batch, config_.batch);
  Shape shape = images_.shape();
  shape[0] = config_.batch;
  gan::LabelledBatch batch{Tensor::empty(shape), Tensor()};
  data::gather_rows(images_, rows, batch.x);
  if (conditional()) {
    batch.labels = Tensor::empty({config_.batch});
    for (int64_t i = 0; i < config_.batch; ++i) batch.labels.data()[i] = labels_[rows[i]];
  }
  return batch;
}

Tensor Session::noise(int64_t n) {
  return own_rows(n,
                  [&](int64_t rows) {
                    return gan::LabelledBatch{model_.prior.sample(rows, noise_gen_), Tensor()};
                  })
      .x;
}

gan::LabelledBatch Session::own_rows(int64_t n,
                                     const std::function<gan::LabelledBatch(int64_t)>& draw) {
  if (shard_.ranks == 1 || shard_.sharding == Shard::Sharding::kStreams) return draw(n);
  NoGradGuard no_grad;
  const int64_t first = shard_.rank * n;
  gan::LabelledBatch all = draw(shard_.ranks * n);
  return {slice(all.x, 0, first, first + n),
          all.labels.defined() ? slice(all.labels, 0, first, first + n) : Tensor()};
}

void Session::apply_schedules(int64_t iteration) {
  g_opt_.schedule(iteration);
  d_opt_.schedule(iteration);
}

gan::TrainerOptions Session::trainer_options() const {
  gan::TrainerOptions options;
  options.k = config_.k;
  options.batch = config_.batch;
  options.loss = gan::find_loss(config_.loss);
  options.r1_gamma = static_cast<float>(config_.r1);
  options.classes = config_.classes;
  return options;
}

Tensor Session::sample(int64_t n, Generator& gen, const Tensor& labels) {
  return generate(model_.prior.sample(n, gen), labels);
}

Tensor Session::labels_by_row(int64_t n, int64_t columns) const {
  Tensor labels = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i)
    labels.data()[i] = static_cast<float>(i / columns % std::max(config_.classes, 1));
  return labels;
}

Tensor Session::generate(const Tensor& z, const Tensor& labels) {
  if (labels.defined() && !conditional())
    throw std::invalid_argument("Session::generate: labels for a run that is not conditional");
  NoGradGuard no_grad;
  gan::GanModel& m = sampling_model();
  m.generator->eval();
  Tensor x = conditional() ? gan::conditional_generator(m)(
                                 z, labels.defined() ? labels : labels_by_row(z.size(0), 1))
                           : (*m.generator)(z);
  m.generator->train();
  if (mixture_) return x;
  return model_choice_.to_images(x, *data_.dataset.image);
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
  io::write_scatter_plot(samples, io::AxisRange::square(data_.dataset.plot_half_width), path,
                         options);
}

Checkpoint Session::to_checkpoint(int64_t step) const {
  Checkpoint c;
  model_.generator->save(c, "G");
  model_.discriminator->save(c, "D");
  g_opt_.optimizer->save_state(c, "opt_G");
  d_opt_.optimizer->save_state(c, "opt_D");
  if (ema_) ema_->save(c, "G_ema");
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
  g_opt_.optimizer->load_state(c, "opt_G");
  d_opt_.optimizer->load_state(c, "opt_D");
  if (ema_) ema_->load(c, "G_ema");
  standing_updates_ = -1;
  load_generator(c, "rng/noise", noise_gen_);
  load_generator(c, "rng/data", data_gen_);
  load_generator(c, "rng/default", default_generator());
  if (sampler_) sampler_->load_state(c, "sampler/");
  return c.count("step");
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
